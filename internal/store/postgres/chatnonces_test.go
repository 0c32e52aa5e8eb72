package postgres

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onair-video/onair/test/e2e/harness"
)

func init() { suites["ChatNonces"] = testChatNonces }

// A chat token's nonce is spent once across every process on the
// database, also when they race; expired nonces are purged.
func testChatNonces(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	url := newDatabase(t, pg)
	a, b := openStore(t, url).ChatNonces(), openStore(t, url).ChatNonces()
	later := time.Now().Add(time.Hour)

	for _, tc := range []struct {
		name  string
		n     *ChatNonces
		nonce string
		first bool
	}{
		{"first use", a, "n1", true},
		{"again, same process", a, "n1", false},
		{"again, another process", b, "n1", false},
		{"another nonce", b, "n2", true},
	} {
		first, err := tc.n.Spend(ctx, tc.nonce, later)
		if err != nil || first != tc.first {
			t.Errorf("%s: %v, %v; want %v", tc.name, first, err, tc.first)
		}
	}

	// Twelve connections with one token at once, on two processes: one
	// wins.
	var won atomic.Int32
	errs := together(12, func(i int) error {
		n := a
		if i%2 == 1 {
			n = b
		}
		first, err := n.Spend(ctx, "raced", later)
		if first {
			won.Add(1)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil || won.Load() != 1 {
		t.Fatalf("raced spends: %d first, %v; want 1", won.Load(), err)
	}

	// Expired nonces go; the others stay.
	if _, err := a.Spend(ctx, "old", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	purged, err := a.Purge(ctx)
	if err != nil || purged != 1 {
		t.Fatalf("purge: %d, %v; want 1", purged, err)
	}
	db := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	left, err := pg.Query(db, "SELECT string_agg(nonce, ',' ORDER BY nonce) FROM chat_nonces")
	if err != nil || left != "n1,n2,raced" {
		t.Fatalf("nonces left: %q, %v", left, err)
	}

	// Spend purges by itself, once a minute per process: a fresh process
	// purges at its first spend.
	if _, err := a.Spend(ctx, "old2", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if first, err := openStore(t, url).ChatNonces().Spend(ctx, "n3", later); err != nil || !first {
		t.Fatalf("n3: %v, %v", first, err)
	}
	if n, err := pg.Query(db, "SELECT count(*) FROM chat_nonces WHERE nonce = 'old2'"); err != nil || n != "0" {
		t.Fatalf("old2 not purged by a spend: %q, %v", n, err)
	}

	// A nonce PostgreSQL cannot store is refused, clearly.
	if _, err := a.Spend(ctx, "bad\x00nonce", later); err == nil || !strings.Contains(err.Error(), "chat nonce") {
		t.Fatalf("a NUL nonce: %v", err)
	}
}
