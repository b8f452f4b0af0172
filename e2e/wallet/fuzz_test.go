package wallet

import (
	"context"
	"net/url"
	"testing"
)

// FuzzParseForm: any page from an authorization server is parsed without
// panicking; a found form's action and values are returned as given.
func FuzzParseForm(f *testing.F) {
	f.Add(`<form action="/authorize/login"><input type="hidden" name="flow" value="x"><button id="submit" name="action" value="login">Go</button></form>`)
	f.Add(`<form><input name="username"><input type="password" name="password"><input type="submit" value="approve"></form>`)
	f.Add(`<p>no form</p>`)
	f.Add(`<form><form><input name="a" value="1">`)
	f.Fuzz(func(t *testing.T, page string) {
		form, err := parseForm(page)
		if err != nil {
			return
		}
		for _, a := range []string{"login", "approve", "cancel"} {
			form.button(a)
		}
		_ = form.values.Encode()
	})
}

// FuzzResolveOfferByValue: an offer URI passed by value (no HTTP) is
// accepted only with the wallet's issuer and at least one configuration.
func FuzzResolveOfferByValue(f *testing.F) {
	const issuer = "https://issuer.example"
	f.Add(`{"credential_issuer":"https://issuer.example","credential_configuration_ids":["mdl"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"abc","tx_code":{"input_mode":"numeric","length":6}}}}`)
	f.Add(`{"credential_issuer":"https://other.example","credential_configuration_ids":["mdl"]}`)
	f.Add(`{"credential_issuer":"https://issuer.example","credential_configuration_ids":[]}`)
	f.Add(`not json`)
	w := &Wallet{cfg: Config{Issuer: issuer}}
	f.Fuzz(func(t *testing.T, offer string) {
		o, err := w.ResolveOffer(context.Background(), "openid-credential-offer://?credential_offer="+url.QueryEscape(offer))
		if err != nil {
			return
		}
		if o.CredentialIssuer != issuer || len(o.CredentialConfigurationIDs) == 0 {
			t.Fatalf("accepted offer %+v", o)
		}
		o.PreAuthorizedCode()
		o.IssuerState()
	})
}
