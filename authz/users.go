package authz

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// Authenticator checks End-User credentials on the login page. It returns
// the End-User's subject identifier, ErrInvalidCredentials for a wrong
// username or password, or another error for an outage.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (subject string, err error)
}

// ErrInvalidCredentials: unknown user or wrong password (indistinguishable
// to the caller).
var ErrInvalidCredentials = errors.New("authz: invalid username or password")

// UsersFile is the YAML users file:
//
//	users:
//	  - username: alice
//	    password_hash: "$2b$12$..."            # bcrypt
//	    subject: "5c1e…"
//	  - username: bob
//	    password_hash: "$argon2id$v=19$m=65536,t=3,p=2$<salt b64>$<hash b64>"
//	    subject: "9f0a…"
type UsersFile struct {
	Users []UserEntry `yaml:"users"`
}

// UserEntry is one End-User of the users file.
type UserEntry struct {
	Username     string `yaml:"username"`
	PasswordHash string `yaml:"password_hash"`
	Subject      string `yaml:"subject"`
}

// dummyHash is compared against for unknown users, so that response time
// does not reveal which usernames exist (bcrypt cost 10, like DefaultCost).
const dummyHash = "$2a$10$qPFpJbK61Qwjpwq7YvzYiuZ7hAND8tHnoIMdfAd7WBueMno.CZyGS"

// Users is the built-in Authenticator over a users file.
type Users struct {
	byName map[string]UserEntry
	dummy  string
}

var _ Authenticator = (*Users)(nil)

// LoadUsersFile reads and validates a YAML users file.
func LoadUsersFile(path string) (*Users, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authz: users file: %w", err)
	}
	var f UsersFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("authz: users file %s: %w", path, err)
	}
	return NewUsers(f.Users)
}

// NewUsers builds the Authenticator from entries; every entry needs a
// username, a subject and a bcrypt or argon2id hash.
func NewUsers(entries []UserEntry) (*Users, error) {
	u := &Users{byName: map[string]UserEntry{}}
	for i, e := range entries {
		if e.Username == "" || e.Subject == "" {
			return nil, fmt.Errorf("authz: user %d needs username and subject", i)
		}
		if _, dup := u.byName[e.Username]; dup {
			return nil, fmt.Errorf("authz: duplicate user %q", e.Username)
		}
		if _, err := parseHash(e.PasswordHash); err != nil {
			return nil, fmt.Errorf("authz: user %q: %w", e.Username, err)
		}
		u.byName[e.Username] = e
	}
	if len(u.byName) == 0 {
		return nil, errors.New("authz: users file has no users")
	}
	u.dummy = dummyHash
	return u, nil
}

// Authenticate implements Authenticator.
func (u *Users) Authenticate(_ context.Context, username, password string) (string, error) {
	e, ok := u.byName[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword([]byte(u.dummy), []byte(password))
		return "", ErrInvalidCredentials
	}
	h, err := parseHash(e.PasswordHash)
	if err != nil {
		return "", ErrInvalidCredentials
	}
	if !h.verify(password) {
		return "", ErrInvalidCredentials
	}
	return e.Subject, nil
}

// Development test user (documented in the package docs).
const (
	DevUsername = "testuser"
	DevPassword = "testpass"
	DevSubject  = "dev-subject-1"
)

// NewDevAuthenticator returns an Authenticator knowing only the development
// test user. Never use it in production.
func NewDevAuthenticator() (*Users, error) {
	return NewUsers([]UserEntry{{Username: DevUsername, PasswordHash: devPasswordHash, Subject: DevSubject}})
}

// devPasswordHash is bcrypt("testpass"), cost 10.
const devPasswordHash = "$2a$10$x2mTzTt1As0rSgVRVl7paeozb9SHU2BW7eTkpP8As1fMOO0ZuBRqO"

// HashPassword returns a bcrypt hash for a users file.
func HashPassword(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(b), err
}

type passwordHash struct {
	bcrypt []byte
	argon  *argonParams
}

type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseHash(s string) (*passwordHash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return nil, fmt.Errorf("bad bcrypt hash: %w", err)
		}
		return &passwordHash{bcrypt: []byte(s)}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		// $argon2id$v=19$m=65536,t=3,p=2$salt$key (PHC string format)
		parts := strings.Split(s, "$")
		if len(parts) != 6 || parts[2] != "v=19" {
			return nil, errors.New("bad argon2id hash: want $argon2id$v=19$m=..,t=..,p=..$salt$key")
		}
		var p argonParams
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
			return nil, fmt.Errorf("bad argon2id parameters: %w", err)
		}
		if p.memory < 8*1024 || p.memory > 4<<20 || p.time < 1 || p.time > 100 || p.threads < 1 {
			return nil, errors.New("argon2id parameters out of range")
		}
		var err error
		if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
			return nil, errors.New("bad argon2id salt")
		}
		if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
			return nil, errors.New("bad argon2id key")
		}
		return &passwordHash{argon: &p}, nil
	default:
		return nil, errors.New("password_hash must be bcrypt ($2b$...) or argon2id ($argon2id$...)")
	}
}

func (h *passwordHash) verify(password string) bool {
	if h.bcrypt != nil {
		return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(password)) == nil
	}
	p := h.argon
	k := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(k, p.key) == 1
}
