package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/metadata"
)

// resolvedConf is one credential configuration with what the catalogue adds:
// its advertised claims.
type resolvedConf struct {
	ID       string
	Config   *config.CredentialConfiguration
	Metadata metadata.Configuration
}

// catalogue is the built-in mdoc catalogue extended with config doctypes.
func catalogue(cfg *config.Config) (*mdoc.Catalogue, error) {
	var extra []mdoc.DocType
	for _, d := range cfg.Doctypes {
		dt := mdoc.DocType{DocType: d.Doctype, Namespaces: map[string]mdoc.Namespace{}}
		for ns, els := range d.Namespaces {
			n := mdoc.Namespace{Elements: map[string]mdoc.Element{}}
			for id, e := range els {
				n.Elements[id] = mdocElement(e)
			}
			dt.Namespaces[ns] = n
		}
		extra = append(extra, dt)
	}
	return mdoc.DefaultCatalogue().Extend(extra...)
}

// resolveConfigurations checks every configuration's doctype and claims
// against the catalogue and builds its metadata. Configurations are returned
// sorted by id, with the catalogue (built-in doctypes extended by the
// configuration's). Every problem is reported, with its config path.
func resolveConfigurations(cfg *config.Config) (*mdoc.Catalogue, []resolvedConf, error) {
	cat, err := catalogue(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("doctypes: %w", err)
	}
	displays := elementDisplays(cfg)
	ids := make([]string, 0, len(cfg.CredentialConfigurations))
	for id := range cfg.CredentialConfigurations {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []resolvedConf
	var errs []error
	for _, id := range ids {
		cc := cfg.CredentialConfigurations[id]
		path := "credential_configurations." + id
		dt, ok := cat.Lookup(cc.Doctype)
		if !ok {
			errs = append(errs, &config.FieldError{Path: path + ".doctype",
				Msg: fmt.Sprintf("%s is neither built in (%v) nor defined under doctypes", cc.Doctype, cat.DocTypes())})
			continue
		}
		claims, cerrs := claimsFor(path, dt, cc.Claims, displays)
		errs = append(errs, cerrs...)
		m := metadata.Configuration{
			ID: id, Doctype: cc.Doctype, Scope: cc.Scope, ProofTypes: cc.ProofTypes,
			BatchSize: cc.BatchSize, Claims: claims,
		}
		if ka := cc.KeyAttestationsRequired; ka != nil {
			m.KeyAttestationsRequired = &metadata.KeyAttestationsRequired{KeyStorage: ka.KeyStorage, UserAuthentication: ka.UserAuthentication}
		}
		for _, d := range cc.Display {
			m.Display = append(m.Display, metadata.CredentialDisplay{
				Name: d.Name, Locale: d.Locale, Logo: logo(d.Logo), Description: d.Description,
				BackgroundColor: d.BackgroundColor, TextColor: d.TextColor,
			})
		}
		out = append(out, resolvedConf{ID: id, Config: cc, Metadata: m})
	}
	return cat, out, errors.Join(errs...)
}

func mdocElement(e *config.Element) mdoc.Element {
	out := mdoc.Element{
		Type: mdoc.ElementType(e.Type), Mandatory: e.Mandatory, MaxLength: e.MaxLength, Latin1: e.Latin1,
		Format: e.Format, Enum: e.Enum, IntEnum: e.IntEnum, Min: e.Min, Max: e.Max,
		MinItems: e.MinItems, MinFields: e.MinFields,
	}
	if e.Items != nil {
		it := mdocElement(e.Items)
		out.Items = &it
	}
	if len(e.Fields) > 0 {
		out.Fields = map[string]mdoc.Element{}
		for name, f := range e.Fields {
			if f != nil {
				out.Fields[name] = mdocElement(f)
			}
		}
	}
	return out
}

type elementKey struct{ doctype, ns, el string }

func elementDisplays(cfg *config.Config) map[elementKey][]metadata.ClaimDisplay {
	out := map[elementKey][]metadata.ClaimDisplay{}
	for _, d := range cfg.Doctypes {
		for ns, els := range d.Namespaces {
			for id, e := range els {
				for _, dd := range e.Display {
					k := elementKey{d.Doctype, ns, id}
					out[k] = append(out[k], metadata.ClaimDisplay{Name: dd.Name, Locale: dd.Locale})
				}
			}
		}
	}
	return out
}

// claimsFor lists the advertised claims: the configured subset in the order
// given, or every catalogue element (namespaces sorted, mandatory elements
// first, then by name). Array order is display order (OpenID4VCI B.2).
func claimsFor(path string, dt mdoc.DocType, subset map[string][]string, displays map[elementKey][]metadata.ClaimDisplay) ([]metadata.Claim, []error) {
	var claims []metadata.Claim
	var errs []error
	add := func(ns, el string, e mdoc.Element) {
		claims = append(claims, metadata.Claim{
			Path: []any{ns, el}, Mandatory: e.Mandatory, Display: displays[elementKey{dt.DocType, ns, el}],
		})
	}
	nss := make([]string, 0, len(dt.Namespaces))
	for ns := range dt.Namespaces {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	if len(subset) == 0 {
		for _, ns := range nss {
			els := dt.Namespaces[ns].Elements
			ids := make([]string, 0, len(els))
			for id := range els {
				ids = append(ids, id)
			}
			slices.SortFunc(ids, func(a, b string) int {
				if els[a].Mandatory != els[b].Mandatory {
					if els[a].Mandatory {
						return -1
					}
					return 1
				}
				if a < b {
					return -1
				}
				return 1
			})
			for _, id := range ids {
				add(ns, id, els[id])
			}
		}
		return claims, nil
	}
	sns := make([]string, 0, len(subset))
	for ns := range subset {
		sns = append(sns, ns)
	}
	sort.Strings(sns)
	for _, ns := range sns {
		n, ok := dt.Namespaces[ns]
		if !ok {
			errs = append(errs, &config.FieldError{Path: path + ".claims." + ns, Msg: "namespace not in doctype " + dt.DocType})
			continue
		}
		for i, el := range subset[ns] {
			e, ok := n.Elements[el]
			if !ok {
				errs = append(errs, &config.FieldError{Path: fmt.Sprintf("%s.claims.%s[%d]", path, ns, i),
					Msg: fmt.Sprintf("element %s not in doctype %s", el, dt.DocType)})
				continue
			}
			add(ns, el, e)
		}
	}
	return claims, errs
}

func logo(l *config.Logo) *metadata.Logo {
	if l == nil {
		return nil
	}
	return &metadata.Logo{URI: l.URI, AltText: l.AltText}
}

func issuerDisplay(ds []config.Display) []metadata.Display {
	var out []metadata.Display
	for _, d := range ds {
		out = append(out, metadata.Display{Name: d.Name, Locale: d.Locale, Logo: logo(d.Logo)})
	}
	return out
}
