package redis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisBinaries returns the paths of redis-server and redis-cli, or skips.
func redisBinaries(t *testing.T) (server, cli string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Redis servers; skipped under -short")
	}
	server, err := exec.LookPath("redis-server")
	if err == nil {
		cli, err = exec.LookPath("redis-cli")
	}
	if err != nil {
		needRedis(t, "redis-server and redis-cli are not on PATH")
	}
	return server, cli
}

// freePort returns a loopback port that is free, and whose cluster bus port
// (port + 10000) is free too.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("no free port pair")
	return 0
}

// startServer runs redis-server (with the config file conf unless empty, and
// args) on port until the test ends, and waits until it answers PING.
func startServer(t *testing.T, server, conf string, port int, args ...string) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no"}, args...)
	if conf != "" {
		args = append([]string{conf}, args...)
	}
	cmd := exec.Command(server, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
	})
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	waitFor(t, addr+" to answer PING", func() bool { return c.Ping(context.Background()).Err() == nil })
	return addr
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCluster runs the conformance suite against a three-master Redis
// Cluster started for the test, through a redis+cluster:// URL. Keys of one
// test land on different nodes; every operation must still be atomic.
func TestCluster(t *testing.T) {
	server, cli := redisBinaries(t)
	var addrs []string
	for range 3 {
		port := freePort(t)
		conf := filepath.Join(t.TempDir(), fmt.Sprintf("nodes-%d.conf", port))
		addrs = append(addrs, startServer(t, server, "", port,
			"--cluster-enabled", "yes", "--cluster-config-file", conf, "--cluster-node-timeout", "2000"))
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		waitFor(t, addr+" cluster_state:ok", func() bool {
			info, err := c.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		c.Close()
	}
	rawURL := "redis+cluster://" + strings.Join(addrs, ",")

	// The suite's keys must spread over the masters, or it would not test
	// that each operation stays on one key.
	s := New(Options{Client: newClient(t, rawURL), Prefix: randomPrefix()})
	for i := range 32 {
		if err := s.Put(t.Context(), "spread", strconv.Itoa(i), nil, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		if n, err := c.DBSize(t.Context()).Result(); err != nil || n == 0 {
			t.Fatalf("node %s holds %d keys (%v); want some of the 32", addr, n, err)
		}
		c.Close()
	}
	s.Close()

	runSuite(t, rawURL)
}

// TestSentinel runs the conformance suite against a master found through
// a Sentinel started for the test, through a redis+sentinel:// URL.
func TestSentinel(t *testing.T) {
	server, _ := redisBinaries(t)
	master := startServer(t, server, "", freePort(t))
	host, port, _ := net.SplitHostPort(master)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	err := os.WriteFile(conf, fmt.Appendf(nil, "sentinel monitor issuertest %s %s 1\n", host, port), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sentinel := startServer(t, server, conf, freePort(t), "--sentinel")
	runSuite(t, "redis+sentinel://"+sentinel+"/issuertest/0")
}
