package dpop

import (
	"net/http"
	"strings"

	"github.com/mdoc-issuer/issuer/oauth"
)

// Algs is the value of the algs parameter of WWW-Authenticate (RFC 9449 §7.1)
// and of dpop_signing_alg_values_supported: the only accepted proof algorithm.
const Algs = "ES256"

// HeaderDPoPNonce is the response header carrying a server nonce (RFC 9449 §8.1).
const HeaderDPoPNonce = "DPoP-Nonce"

// Challenge formats a WWW-Authenticate value for the DPoP scheme (RFC 9449
// §7.1): `DPoP error="…", error_description="…", algs="ES256"`. An empty code
// gives the bare challenge `DPoP algs="ES256"` for requests without credentials.
func Challenge(code, description string) string {
	var b strings.Builder
	b.WriteString("DPoP ")
	if code != "" {
		b.WriteString(`error="`)
		b.WriteString(quoteSafe(code))
		b.WriteString(`", `)
		if description != "" {
			b.WriteString(`error_description="`)
			b.WriteString(quoteSafe(description))
			b.WriteString(`", `)
		}
	}
	b.WriteString(`algs="` + Algs + `"`)
	return b.String()
}

// ResourceError is a resource-server error (RFC 6750 §3.1, RFC 9449 §7.1):
// the given status and code with a matching DPoP WWW-Authenticate challenge.
// Callers use it for token errors (invalid_token, 401) next to Verify's errors.
func ResourceError(status int, code, description string) *oauth.Error {
	return oauth.New(status, code, "%s", description).
		WithHeader("WWW-Authenticate", Challenge(code, description))
}

// quoteSafe keeps s inside an RFC 9110 quoted-string and within the
// characters RFC 6749 §5.2 allows in error_description.
func quoteSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '"' || c == '\\':
			b[i] = '\''
		case c < 0x20 || c > 0x7e:
			b[i] = '?'
		}
	}
	return string(b)
}

// failure is a rejected check: the error code and the description naming it.
type failure struct {
	code string
	desc string
}

func invalid(desc string) *failure { return &failure{code: oauth.CodeInvalidDPoPProof, desc: desc} }

// toError maps a failure to the response for the endpoint kind: 400 with a
// JSON error at the authorization server (RFC 9449 §5, §8), 401 with a DPoP
// WWW-Authenticate challenge at a resource (RFC 9449 §7.1, §9). nonce, if not
// empty, goes into the DPoP-Nonce header.
func toError(f *failure, resource bool, nonce string) *oauth.Error {
	var e *oauth.Error
	if resource {
		e = ResourceError(http.StatusUnauthorized, f.code, f.desc)
	} else {
		e = oauth.New(http.StatusBadRequest, f.code, "%s", f.desc)
	}
	if nonce != "" {
		e = e.WithHeader(HeaderDPoPNonce, nonce)
	}
	return e
}
