package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mdoc-issuer/issuer/storage/memory"
	"github.com/mdoc-issuer/issuer/storage/redis"
)

// openStore opens the configured backend. The memory store holds state for
// this process only; redis is shared by every instance.
func (a *app) openStore(ctx context.Context) error {
	switch a.cfg.Store.Backend {
	case "memory":
		a.store = memory.New(memory.Options{Now: a.now})
		if !a.cfg.Development {
			a.log.Warn("memory store outside development: state is lost on restart and not shared between instances")
		}
		return nil
	case "redis":
		s, err := redis.Open(ctx, a.cfg.Store.RedisURL, a.cfg.Store.KeyPrefix, a.now)
		if err != nil {
			// The URL may hold a password: name the backend, not the URL.
			return fmt.Errorf("redis: %w", err)
		}
		a.store = s
		return nil
	}
	return fmt.Errorf("unknown store backend %q", a.cfg.Store.Backend)
}

// devKey returns the 32-byte key in path, creating it (0600, parent 0700) if
// absent. Development only: production keys come from the configuration.
func devKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: expected 32 bytes, found %d", path, len(b))
		}
		return b, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return devKey(path) // another process created it first
		}
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	return b, f.Close()
}
