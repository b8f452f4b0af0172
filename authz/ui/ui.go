// Package ui holds the HTML templates of the authorization server's login,
// consent and error pages, embedded in the binary. The element ids and names
// are a stable contract for browser automation (see package authz docs); the
// pages need no JavaScript.
package ui

import (
	"embed"
	"html/template"
)

//go:embed *.html
var files embed.FS

// Templates parses the embedded templates: "login.html", "consent.html",
// "error.html".
func Templates() (*template.Template, error) {
	return template.ParseFS(files, "*.html")
}

// LoginData is the data of login.html.
type LoginData struct {
	Action   string // form action URL
	Flow     string // login flow id
	CSRF     string // per-flow CSRF token
	Client   string // wallet name or client id
	Username string // echoed after a failed attempt
	Error    string // message of a failed attempt
	// Upstream is the display name of the upstream OpenID Connect provider;
	// if set, button#upstream[name=action][value=upstream] signs in there.
	Upstream string
	// NoPassword hides the username and password fields (upstream login
	// only).
	NoPassword bool
}

// ConsentItem is one credential configuration on the consent page.
type ConsentItem struct {
	ID      string
	Display string
	Claims  []string
}

// ConsentData is the data of consent.html.
type ConsentData struct {
	Action string
	Flow   string
	CSRF   string
	Client string
	Items  []ConsentItem
}

// ErrorData is the data of error.html: the OAuth error code and a message.
type ErrorData struct {
	Code        string
	Description string
}
