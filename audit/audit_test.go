package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeLog(t *testing.T, key []byte, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l, err := Open(path, key, func() time.Time { clock = clock.Add(time.Second); return clock })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := l.Append(Event{Type: CredentialIssued, Fields: map[string]string{"configuration": "mdl", "i": string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyAcceptsIntactLogAndContinuesChain(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("0123456789abcdef0123456789abcdef")} {
		path := writeLog(t, key, 3)
		l, err := Open(path, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(Event{Type: AdminAction}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		b, _ := os.ReadFile(path)
		n, err := Verify(bytes.NewReader(b), key)
		if err != nil || n != 4 {
			t.Fatalf("key %v: n=%d err=%v", key != nil, n, err)
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	path := writeLog(t, key, 4)
	orig, _ := os.ReadFile(path)
	lines := strings.SplitAfter(strings.TrimSuffix(string(orig), "\n"), "\n")
	for _, tc := range []struct {
		name, log string
		key       []byte
		line      int
	}{
		{"edited field", strings.Replace(string(orig), `"i":"b"`, `"i":"x"`, 1), key, 2},
		{"removed record", lines[0] + lines[2] + lines[3], key, 2},
		{"reordered", lines[1] + lines[0] + lines[2] + lines[3], key, 1},
		{"wrong key", string(orig), []byte("another key another key another"), 1},
		{"garbage", lines[0] + "{not json}\n", key, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(strings.NewReader(tc.log), tc.key)
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Line != tc.line {
				t.Fatalf("err = %v, want a break at line %d", err, tc.line)
			}
		})
	}
	if err := os.WriteFile(path, []byte(lines[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, key, nil); err == nil {
		t.Fatal("Open continued a broken chain")
	}
}

func TestLogFileIsPrivate(t *testing.T) {
	path := writeLog(t, nil, 1)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
}
