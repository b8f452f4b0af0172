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

// objectMembers decodes a JSON object into its members, names decoded and
// values raw (sub-slices of b), in document order. b is checked with
// json.Valid first; the split is then one pass over b. It reports false if b
// is not valid JSON or not an object. Duplicate names are kept: the caller
// decides about them.
func objectMembers(b []byte) (map[string]json.RawMessage, []string, bool) {
	if !json.Valid(b) {
		return nil, nil, false
	}
	return splitObject(b)
}

// splitObject is objectMembers for b known to be valid JSON (a value inside
// a document that passed json.Valid). It returns the members by name, and
// the names that occur more than once. On other input it never panics but
// its result is unspecified beyond ok = false for what is plainly not an
// object.
func splitObject(b []byte) (map[string]json.RawMessage, []string, bool) {
	at := func(i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	i := skipSpace(b, 0)
	if at(i) != '{' {
		return nil, nil, false
	}
	out := map[string]json.RawMessage{}
	var dups []string
	i = skipSpace(b, i+1)
	if at(i) == '}' {
		return out, nil, true
	}
	for {
		if at(i) != '"' {
			return nil, nil, false
		}
		end := skipString(b, i)
		name, ok := jsonString(b[i:end])
		if !ok {
			return nil, nil, false
		}
		i = skipSpace(b, end)
		if at(i) != ':' {
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return nil, nil, false
		}
		vend := skipValue(b, i)
		if _, dup := out[name]; dup {
			dups = append(dups, name)
		}
		out[name] = json.RawMessage(b[i:vend:vend])
		i = skipSpace(b, vend)
		switch at(i) {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return out, dups, true
		default:
			return nil, nil, false
		}
	}
}

// skipString returns the index after the JSON string starting at b[i] ('"')
// of valid JSON.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the JSON value starting at b[i] of
// valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}
