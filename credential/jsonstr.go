package credential

import "encoding/json"

// jsonString decodes a JSON string value. A string of printable ASCII
// without escapes (every JWT, base64url value and identifier a wallet
// sends) is its own decoding and is taken as is, without a second scan of
// the bytes; anything else goes through encoding/json. Same result and same
// refusals as json.Unmarshal into a string.
func jsonString(raw []byte) (string, bool) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && plainASCII(raw[1:n-1]) {
		return string(raw[1 : n-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonStrings decodes a JSON array of strings as json.Unmarshal into a
// []string would (null gives nil), with the fast path of jsonString for
// arrays of plain strings separated by JSON whitespace.
func jsonStrings(raw []byte) ([]string, bool) {
	if out, ok := plainStringArray(raw); ok {
		return out, true
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}

// plainStringArray parses `[ "a" , "b" ]` whose strings are plainASCII; it
// reports false for anything else (the caller falls back to encoding/json).
func plainStringArray(b []byte) ([]string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	out := []string{}
	if i < len(b) && b[i] == ']' {
		return out, skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			j++
		}
		if j >= len(b) || !plainASCII(b[i+1:j]) {
			return nil, false
		}
		out = append(out, string(b[i+1:j]))
		i = skipSpace(b, j+1)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return out, skipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// plainASCII reports whether b is printable ASCII without '"' and '\\': the
// bytes of a JSON string that need no unescaping.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// skipSpace skips JSON whitespace (RFC 8259 §2) from i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
