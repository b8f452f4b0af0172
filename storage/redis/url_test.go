package redis

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	type want struct {
		kind             string // simple, failover, cluster
		addrs            []string
		db               int
		master           string
		user, password   string
		sUser, sPassword string
		tls              bool
		dialTimeout      time.Duration
	}
	cases := []struct {
		name, url string
		want      want
	}{
		{"plain", "redis://127.0.0.1:6379/0", want{kind: "simple", addrs: []string{"127.0.0.1:6379"}}},
		{"defaults", "redis://", want{kind: "simple", addrs: []string{"localhost:6379"}}},
		{"db, auth, options", "redis://u:p%40ss@h:7000/3?dial_timeout=2s", want{kind: "simple", addrs: []string{"h:7000"}, db: 3, user: "u", password: "p@ss", dialTimeout: 2 * time.Second}},
		{"tls", "rediss://:secret@h", want{kind: "simple", addrs: []string{"h:6379"}, password: "secret", tls: true}},
		{"unix", "unix:///run/redis.sock?db=2", want{kind: "simple", addrs: []string{"/run/redis.sock"}, db: 2}},
		{"sentinel", "redis+sentinel://s1:26379,s2:26380/mymaster", want{kind: "failover", addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster"}},
		{"sentinel db and credentials", "rediss+sentinel://u:pw@s1:26379,s2:26379,s3:26379/mymaster/2?sentinel_password=spw&dial_timeout=1s",
			want{kind: "failover", addrs: []string{"s1:26379", "s2:26379", "s3:26379"}, master: "mymaster", db: 2, user: "u", password: "pw", sPassword: "spw", tls: true, dialTimeout: time.Second}},
		{"sentinel user", "redis+sentinel://s1:26379/m?sentinel_username=su&sentinel_password=sp", want{kind: "failover", addrs: []string{"s1:26379"}, master: "m", sUser: "su", sPassword: "sp"}},
		{"cluster", "redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3", want{kind: "cluster", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"}}},
		{"sentinel ipv6 default port", "redis+sentinel://[::1],[::2]:26379/m", want{kind: "failover", addrs: []string{"[::1]:6379", "[::2]:26379"}, master: "m"}},
		{"cluster auth tls", "rediss+cluster://:pw@[::1]:7000/?read_timeout=3s", want{kind: "cluster", addrs: []string{"[::1]:7000"}, password: "pw", tls: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			var got want
			switch {
			case p.simple != nil:
				o := p.simple
				got = want{kind: "simple", addrs: []string{o.Addr}, db: o.DB, user: o.Username, password: o.Password, tls: o.TLSConfig != nil, dialTimeout: o.DialTimeout}
			case p.failover != nil:
				o := p.failover
				got = want{kind: "failover", addrs: o.SentinelAddrs, db: o.DB, master: o.MasterName, user: o.Username, password: o.Password,
					sUser: o.SentinelUsername, sPassword: o.SentinelPassword, tls: o.TLSConfig != nil, dialTimeout: o.DialTimeout}
			case p.cluster != nil:
				o := p.cluster
				got = want{kind: "cluster", addrs: o.Addrs, user: o.Username, password: o.Password, tls: o.TLSConfig != nil, dialTimeout: o.DialTimeout}
			}
			w := tc.want
			if got.kind != w.kind || !slices.Equal(got.addrs, w.addrs) || got.db != w.db || got.master != w.master ||
				got.user != w.user || got.password != w.password || got.sUser != w.sUser || got.sPassword != w.sPassword ||
				got.tls != w.tls || w.dialTimeout != 0 && got.dialTimeout != w.dialTimeout {
				t.Fatalf("got %+v\nwant %+v", got, w)
			}
			_ = p.client().Close()
		})
	}
}

func TestParseURLRejects(t *testing.T) {
	cases := map[string]string{
		"scheme":              "http://h:6379",
		"unknown topology":    "redis+ring://h1,h2",
		"unix topology":       "unix+cluster:///tmp/s",
		"sentinel no master":  "redis+sentinel://s1:26379",
		"sentinel deep path":  "redis+sentinel://s1:26379/m/0/x",
		"sentinel bad db":     "redis+sentinel://s1:26379/m/x",
		"cluster path":        "redis+cluster://h1:7000,h2:7000/0",
		"empty seed":          "redis+cluster://h1:7000,,h2:7000",
		"bad db":              "redis://h/x",
		"unknown option":      "redis://h?no_such_option=1",
		"cluster bad option":  "redis+cluster://h1?no_such_option=1",
		"sentinel bad option": "redis+sentinel://s1/m?no_such_option=1",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseURL(raw); err == nil {
				t.Fatalf("accepted %q", raw)
			}
		})
	}
}

func TestParseURLErrorHidesPassword(t *testing.T) {
	for _, raw := range []string{"redis://u:hunter2@h:bad/0", "redis+cluster://u:hunter2@h1:x%zz,h2", "redis+sentinel://u:hunter2@s1/m/bad"} {
		_, err := parseURL(raw)
		if err == nil {
			t.Fatalf("accepted %q", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error reveals the password: %v", err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://u:p@h:1/2?dial_timeout=1s", "rediss+sentinel://a,b/m/1?sentinel_password=x",
		"redis+cluster://a:1,b:2", "unix:///s", "redis+sentinel://@/", "redis+cluster://,", "rediss+cluster://[::1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseURL(raw)
		if err != nil {
			return
		}
		if n := btoi(p.simple != nil) + btoi(p.failover != nil) + btoi(p.cluster != nil); n != 1 {
			t.Fatalf("%q parsed to %d client kinds", raw, n)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
