package audit

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzVerify: Verify never panics, and a log it accepts has exactly as many
// records as lines.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(""), []byte(nil))
	f.Add([]byte("{}\n"), []byte("k"))
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","type":"x","prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"00"}`+"\n"), []byte(nil))
	f.Add([]byte("not json\n\n"), []byte(nil))
	f.Fuzz(func(t *testing.T, log, key []byte) {
		n, err := Verify(bytes.NewReader(log), key)
		var ve *VerifyError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("error of type %T", err)
		}
		if err == nil && n != bytes.Count(bytes.TrimRight(log, "\n"), []byte("\n"))+1 && len(bytes.TrimSpace(log)) > 0 {
			t.Fatalf("%d records from %d lines", n, bytes.Count(log, []byte("\n")))
		}
	})
}
