package authz

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/argon2"
)

func argonHash(password string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, 1, 8*1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	content := fmt.Sprintf("users:\n  - username: alice\n    password_hash: %q\n    subject: sub-alice\n  - username: bob\n    password_hash: %q\n    subject: sub-bob\n",
		cheapDevHash, argonHash("bob-secret"))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		user, pass, sub string
		ok              bool
	}{
		{"alice", DevPassword, "sub-alice", true},
		{"alice", "wrong", "", false},
		{"bob", "bob-secret", "sub-bob", true},
		{"bob", "bob-secret ", "", false},
		{"carol", "x", "", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		sub, err := u.Authenticate(ctx, c.user, c.pass)
		if c.ok != (err == nil) || sub != c.sub {
			t.Fatalf("%s/%s: %q %v", c.user, c.pass, sub, err)
		}
		if !c.ok && !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: error %v", c.user, err)
		}
	}
}

func TestUsersFileRejectsBadEntries(t *testing.T) {
	for name, entries := range map[string][]UserEntry{
		"empty":           nil,
		"no subject":      {{Username: "a", PasswordHash: cheapDevHash}},
		"plain password":  {{Username: "a", PasswordHash: "secret", Subject: "s"}},
		"duplicate":       {{Username: "a", PasswordHash: cheapDevHash, Subject: "s"}, {Username: "a", PasswordHash: cheapDevHash, Subject: "t"}},
		"weak argon2":     {{Username: "a", PasswordHash: "$argon2id$v=19$m=16,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", Subject: "s"}},
		"broken argon2":   {{Username: "a", PasswordHash: "$argon2id$v=19$m=8192", Subject: "s"}},
		"argon2i variant": {{Username: "a", PasswordHash: "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", Subject: "s"}},
	} {
		if _, err := NewUsers(entries); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
	if _, err := LoadUsersFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestDevAuthenticator(t *testing.T) {
	u, err := NewDevAuthenticator()
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := u.Authenticate(context.Background(), DevUsername, DevPassword); err != nil || sub != DevSubject {
		t.Fatalf("%q %v", sub, err)
	}
	if _, err := u.Authenticate(context.Background(), DevUsername, "x"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
}
