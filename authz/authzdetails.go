package authz

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"

	"github.com/mdoc-issuer/issuer/oauth"
)

// maxAuthorizationDetails bounds the authorization_details parameter.
const maxAuthorizationDetails = 8 << 10

func invalidDetails(format string, args ...any) *oauth.Error {
	return oauth.New(http.StatusBadRequest, oauth.CodeInvalidAuthzDetails, format, args...)
}

// parseAuthorizationDetails parses an authorization_details parameter (RFC
// 9396 §2) holding openid_credential entries (OpenID4VCI §5.1.1) and returns
// the credential configuration ids it requests, deduplicated, in order.
// known reports whether a configuration id may be requested. Every violation
// is invalid_authorization_details (RFC 9396 §5).
func (s *Server) parseAuthorizationDetails(raw string, known func(string) bool) ([]string, error) {
	if len(raw) > maxAuthorizationDetails {
		return nil, invalidDetails("authorization_details exceeds %d bytes", maxAuthorizationDetails)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	var entries []map[string]json.RawMessage
	if err := dec.Decode(&entries); err != nil {
		return nil, invalidDetails("authorization_details is not a JSON array of objects")
	}
	if dec.More() {
		return nil, invalidDetails("authorization_details has trailing data")
	}
	if len(entries) == 0 {
		return nil, invalidDetails("authorization_details is empty")
	}
	var ids []string
	for i, e := range entries {
		if e == nil {
			return nil, invalidDetails("authorization_details[%d] is not an object", i)
		}
		var typ string
		if err := json.Unmarshal(e["type"], &typ); err != nil || typ == "" {
			return nil, invalidDetails("authorization_details[%d] has no string type", i)
		}
		if typ != oauth.AuthorizationDetailVCI {
			return nil, invalidDetails("authorization_details[%d] has unsupported type (want %s)", i, oauth.AuthorizationDetailVCI)
		}
		var id string
		if err := json.Unmarshal(e["credential_configuration_id"], &id); err != nil || id == "" {
			return nil, invalidDetails("authorization_details[%d] has no string credential_configuration_id", i)
		}
		if !known(id) {
			return nil, invalidDetails("authorization_details[%d] requests an unknown credential_configuration_id", i)
		}
		if l, ok := e["locations"]; ok {
			var locs []string
			if err := json.Unmarshal(l, &locs); err != nil {
				return nil, invalidDetails("authorization_details[%d].locations is not an array of strings", i)
			}
			if s.o.CredentialIssuer != "" && !slices.Contains(locs, s.o.CredentialIssuer) {
				return nil, invalidDetails("authorization_details[%d].locations does not name this credential issuer", i)
			}
		}
		if c, ok := e["claims"]; ok {
			var claims []struct {
				Path []json.RawMessage `json:"path"`
			}
			if err := json.Unmarshal(c, &claims); err != nil {
				return nil, invalidDetails("authorization_details[%d].claims is not an array of claims description objects", i)
			}
			for j, cl := range claims {
				if len(cl.Path) == 0 {
					return nil, invalidDetails("authorization_details[%d].claims[%d] has no path", i, j)
				}
			}
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// newCredentialIdentifiers returns one fresh credential_identifier per
// configuration id (OpenID4VCI §6.2): identifier -> configuration id.
func newCredentialIdentifiers(ids []string) (map[string]string, error) {
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		m[base64.RawURLEncoding.EncodeToString(b[:])] = id
	}
	return m, nil
}

// tokenAuthorizationDetail is an entry of authorization_details in the token
// response (OpenID4VCI §6.2).
type tokenAuthorizationDetail struct {
	Type                      string   `json:"type"`
	CredentialConfigurationID string   `json:"credential_configuration_id"`
	CredentialIdentifiers     []string `json:"credential_identifiers"`
}

// responseAuthorizationDetails groups credential identifiers by
// configuration, in the order of configIDs.
func responseAuthorizationDetails(configIDs []string, ids map[string]string) []tokenAuthorizationDetail {
	var out []tokenAuthorizationDetail
	for _, cid := range configIDs {
		var idents []string
		for ident, c := range ids {
			if c == cid {
				idents = append(idents, ident)
			}
		}
		if len(idents) == 0 {
			continue
		}
		sort.Strings(idents)
		out = append(out, tokenAuthorizationDetail{Type: oauth.AuthorizationDetailVCI,
			CredentialConfigurationID: cid, CredentialIdentifiers: idents})
	}
	return out
}
