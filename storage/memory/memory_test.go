package memory

import (
	"strconv"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		s := New(Options{Now: now})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestSweepRemovesOnlyExpired(t *testing.T) {
	c := storagetest.NewClock(time.Unix(1_700_000_000, 0))
	s := New(Options{Now: c.Now, SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	exp := c.Now().Add(time.Minute)
	for _, k := range []string{"a", "b"} {
		if err := s.Put(ctx, "par", k, []byte(k), exp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Consume(ctx, "par", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "jti", "x", exp.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "rate", "r", exp); err != nil {
		t.Fatal(err)
	}
	s.Sweep()
	if n := s.Len(); n != 4 {
		t.Fatalf("after sweep before expiry: %d entries, want 4", n)
	}
	c.Advance(time.Minute)
	s.Sweep()
	if n := s.Len(); n != 1 {
		t.Fatalf("after sweep at expiry: %d entries, want 1 (the later jti)", n)
	}
	if err := s.Remember(ctx, "jti", "x", exp); err == nil {
		t.Fatal("sweep dropped a live replay-cache entry")
	}
}

func TestBackgroundSweeper(t *testing.T) {
	c := storagetest.NewClock(time.Unix(1_700_000_000, 0))
	s := New(Options{Now: c.Now, SweepInterval: time.Millisecond})
	defer s.Close()
	if err := s.Put(t.Context(), "par", "k", nil, c.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("background sweeper did not remove the expired entry")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseStopsSweeper(t *testing.T) {
	s := New(Options{SweepInterval: time.Millisecond})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("sweeper still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func BenchmarkConsume(b *testing.B) {
	s := New(Options{SweepInterval: -1})
	defer s.Close()
	ctx := b.Context()
	exp := time.Now().Add(time.Hour)
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		if err := s.Create(ctx, "code", keys[i], []byte("value"), exp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Consume(ctx, "code", keys[i]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRemember(b *testing.B) {
	s := New(Options{SweepInterval: -1})
	defer s.Close()
	ctx := b.Context()
	exp := time.Now().Add(time.Hour)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Remember(ctx, "jti", ids[i], exp); err != nil {
			b.Fatal(err)
		}
	}
}
