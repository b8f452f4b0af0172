package redis

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

type fixture struct {
	name          string
	expMs         int64
	used          bool
	value, stored []byte
}

// readFixture parses storage/testdata/redis-values-v1.txt.
func readFixture(t *testing.T) []fixture {
	t.Helper()
	f, err := os.Open("../testdata/redis-values-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixture
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 5 {
			t.Fatalf("fixture line %q: want 5 fields", line)
		}
		x := fixture{name: fields[0]}
		if x.expMs, err = strconv.ParseInt(fields[1], 10, 64); err != nil {
			t.Fatal(err)
		}
		if x.used, err = strconv.ParseBool(fields[2]); err != nil {
			t.Fatal(err)
		}
		if fields[3] != "-" {
			if x.value, err = hex.DecodeString(fields[3]); err != nil {
				t.Fatal(err)
			}
		}
		if x.stored, err = hex.DecodeString(fields[4]); err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("empty fixture")
	}
	return out
}

// TestValueFormatFixture pins the stored format: the current code must decode
// the committed bytes and encode the same fields to the same bytes.
func TestValueFormatFixture(t *testing.T) {
	for _, f := range readFixture(t) {
		t.Run(f.name, func(t *testing.T) {
			value, expMs, used, err := decodeValue(f.stored)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(value, f.value) || expMs != f.expMs || used != f.used {
				t.Fatalf("decoded (%x, %d, %v), want (%x, %d, %v)", value, expMs, used, f.value, f.expMs, f.used)
			}
			if got := encodeValue(f.value, f.expMs, f.used); !bytes.Equal(got, f.stored) {
				t.Fatalf("encoded %x, want %x", got, f.stored)
			}
		})
	}
}

// TestStateNibble pins where Advance keeps its state: the high nibble of
// the flags byte, beside the used bit.
func TestStateNibble(t *testing.T) {
	raw := []byte{0x01, 0x21, 0, 0, 0x01, 0x9b, 0x76, 0xda, 0xa8, 0x00, 'v'}
	value, expMs, used, err := decodeValue(raw)
	if err != nil || string(value) != "v" || expMs != 1767225600000 || !used {
		t.Fatalf("decoded (%q, %d, %v, %v)", value, expMs, used, err)
	}
	if st := stateOf(raw); st != 2 {
		t.Fatalf("state %d, want 2", st)
	}
	if st := stateOf(encodeValue(nil, 1, true)); st != 0 {
		t.Fatalf("a written value has state %d, want 0", st)
	}
}

func TestDecodeValueRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":          nil,
		"short":          {1, 0, 0, 0, 0, 0, 0, 0, 0},
		"version 0":      {0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		"version 2":      {2, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		"instant > 2^53": {1, 0, 0, 0x20, 0, 0, 0, 0, 0, 1},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := decodeValue(raw); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestEncodeValueBeforeEpoch(t *testing.T) {
	_, expMs, _, err := decodeValue(encodeValue(nil, -5, false))
	if err != nil || expMs != 0 {
		t.Fatalf("got %d, %v; want 0, nil", expMs, err)
	}
}

func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeValue([]byte("v"), 1767225600000, true))
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, raw []byte) {
		value, expMs, used, err := decodeValue(raw)
		if err != nil {
			return
		}
		want := append([]byte{raw[0], raw[1] & flagUsed}, raw[2:]...)
		if got := encodeValue(value, expMs, used); !bytes.Equal(got, want) {
			t.Fatalf("re-encoding %x gave %x", raw, got)
		}
	})
}
