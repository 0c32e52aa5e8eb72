package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	tb := New(3, time.Second)
	tb.Now = func() time.Time { return now }
	for i := range 3 {
		if !tb.Allow("a") {
			t.Fatalf("token %d refused", i)
		}
	}
	if tb.Allow("a") || tb.Has("a") {
		t.Fatal("empty bucket allowed")
	}
	if !tb.Has("b") || !tb.Allow("b") {
		t.Fatal("another key refused")
	}
	now = now.Add(time.Second)
	if !tb.Has("a") || !tb.Allow("a") || tb.Allow("a") {
		t.Fatal("refill is not one a second")
	}
}

func TestTableBounded(t *testing.T) {
	t.Parallel()
	tb := New(2, time.Minute)
	for i := range MaxEntries + 10 {
		tb.Allow(strconv.Itoa(i))
	}
	if n := tb.Len(); n > MaxEntries {
		t.Fatalf("%d entries", n)
	}
}

func TestHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"192.0.2.1:80": "192.0.2.1", "[::1]:9": "::1", "pipe": "pipe"} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q", in, got)
		}
	}
}
