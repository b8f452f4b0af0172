package wallet

import (
	"errors"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// htmlForm is the first form of an HTML page: its action, the values of its
// inputs and its submit buttons.
type htmlForm struct {
	action  string
	values  url.Values
	inputs  map[string]bool
	buttons []formButton
}

type formButton struct{ id, name, value string }

func (f *htmlForm) has(name string) bool { return f.inputs[name] }

// buttonAliases are the ids or values the simulator recognises for each
// action a user takes on the login and consent pages.
var buttonAliases = map[string][]string{
	"login":   {"login", "submit", "sign-in", "signin"},
	"approve": {"approve", "consent", "allow", "accept", "submit"},
	"cancel":  {"cancel", "deny", "reject"},
}

// button finds the submit button for an action and returns the name and value
// it submits.
func (f *htmlForm) button(action string) (name, value string, ok bool) {
	for _, alias := range buttonAliases[action] {
		for _, b := range f.buttons {
			if strings.EqualFold(b.id, alias) || strings.EqualFold(b.value, alias) {
				return b.name, b.value, true
			}
		}
	}
	return "", "", false
}

// parseForm reads the first <form> of a page.
func parseForm(page string) (*htmlForm, error) {
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil, err
	}
	var form *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if form != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			form = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(root)
	if form == nil {
		return nil, errors.New("the page has no form")
	}
	f := &htmlForm{action: attr(form, "action"), values: url.Values{}, inputs: map[string]bool{}}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			typ := strings.ToLower(attr(n, "type"))
			name := attr(n, "name")
			switch {
			case n.Data == "button" && (typ == "" || typ == "submit"),
				n.Data == "input" && typ == "submit":
				f.buttons = append(f.buttons, formButton{id: attr(n, "id"), name: name, value: attr(n, "value")})
			case n.Data == "input" && name != "":
				f.inputs[name] = true
				if typ == "hidden" || attr(n, "value") != "" {
					f.values.Set(name, attr(n, "value"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return f, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
