package redis

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// parsed is a Redis URL resolved to exactly one kind of go-redis options.
type parsed struct {
	simple   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

func (p *parsed) client() redis.UniversalClient {
	switch {
	case p.failover != nil:
		return redis.NewFailoverClient(p.failover)
	case p.cluster != nil:
		return redis.NewClusterClient(p.cluster)
	}
	return redis.NewClient(p.simple)
}

// parseURL accepts the forms listed in the package documentation. Errors
// never echo the URL, which may carry a password.
func parseURL(raw string) (*parsed, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	base, topology, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" && scheme != "unix" {
		return nil, fmt.Errorf("redis: unsupported URL scheme %q", scheme)
	}
	switch topology {
	case "":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, cleanErr(err)
		}
		return &parsed{simple: o}, nil
	case "sentinel":
		u, err := seedURL(raw, base)
		if err != nil {
			return nil, err
		}
		if err := moveSentinelCredentials(u); err != nil {
			return nil, err
		}
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, cleanErr(err)
		}
		return &parsed{failover: o}, nil
	case "cluster":
		u, err := seedURL(raw, base)
		if err != nil {
			return nil, err
		}
		if strings.Trim(u.Path, "/") != "" {
			return nil, errors.New("redis: a cluster URL has no path (Redis Cluster has database 0 only)")
		}
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, cleanErr(err)
		}
		return &parsed{cluster: o}, nil
	}
	return nil, fmt.Errorf("redis: unsupported URL scheme %q", scheme)
}

// cleanErr drops the URL a *url.Error quotes.
func cleanErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("redis: invalid URL: %w", ue.Err)
	}
	return err
}

// seedURL rewrites "<base>+<topology>://[userinfo@]h1,h2,.../path?query" to
// the go-redis form "<base>://[userinfo@]h1/path?query&addr=h2&addr=...".
func seedURL(raw, base string) (*url.URL, error) {
	_, rest, _ := strings.Cut(raw, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	seeds := strings.Split(hosts, ",")
	for i, h := range seeds {
		if h == "" {
			return nil, errors.New("redis: empty host in URL seed list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			seeds[i] = net.JoinHostPort(strings.Trim(h, "[]"), "6379")
		}
	}
	u, err := url.Parse(base + "://" + userinfo + seeds[0] + tail)
	if err != nil {
		return nil, cleanErr(err)
	}
	q := u.Query()
	for _, h := range seeds[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// moveSentinelCredentials turns "/master[/db]" into master_name (and db),
// makes the URL's userinfo the master's credentials, and the query
// parameters sentinel_username and sentinel_password the Sentinels', which
// is the inverse of what go-redis ParseFailoverURL reads.
func moveSentinelCredentials(u *url.URL) error {
	q := u.Query()
	path := strings.Split(strings.Trim(u.Path, "/"), "/")
	if path[0] == "" || len(path) > 2 {
		return errors.New("redis: a Sentinel URL needs the path /master_name[/db]")
	}
	q.Set("master_name", path[0])
	u.Path = ""
	if len(path) == 2 {
		if _, err := strconv.Atoi(path[1]); err != nil {
			return errors.New("redis: invalid database number in Sentinel URL")
		}
		u.Path = "/" + path[1]
	}
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			q.Set("username", name)
		}
		if pw, ok := u.User.Password(); ok {
			q.Set("password", pw)
		}
	}
	u.User = nil
	if name, pw := q.Get("sentinel_username"), q.Get("sentinel_password"); name != "" || pw != "" {
		u.User = url.UserPassword(name, pw)
	}
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	u.RawQuery = q.Encode()
	return nil
}
