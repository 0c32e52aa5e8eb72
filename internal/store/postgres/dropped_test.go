package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() {
	suites["DroppedConnection"] = testDroppedConnection
}

// A connection dropped in the middle of a transaction (the server killed
// its backend: a failover, an admin, an idle timeout) fails that one call
// and commits none of it; the pool replaces the connection, the next calls
// work, and the event log keeps its order.
func testDroppedConnection(t *testing.T, pg *harness.Postgres) {
	url := newDatabase(t, pg)
	db := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	s := openStore(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	appendEvent := func(id string) (*ivs.Event, error) {
		e := &ivs.Event{ID: id, Time: at, DetailType: "IVS Stream State Change", ChannelID: "ch", StreamID: "st-x"}
		return e, s.AppendEvent(ctx, e)
	}
	if _, err := appendEvent("first"); err != nil {
		t.Fatal(err)
	}

	// Hold the event log's lock from another connection, so that the next
	// append waits inside its transaction, after its BEGIN.
	holder, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", lockEvents); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	go func() {
		_, err := appendEvent("dropped")
		failed <- err
	}()
	// Kill the waiting backend: this database's only, the other suites'
	// appends wait on the same lock key in theirs.
	harness.Eventually(t, 30*time.Second, func() error {
		out, err := pg.Query(db, fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'onair'
			AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND pid <> %d`, holder.Conn().PgConn().PID()))
		if err != nil || out != "t" {
			return fmt.Errorf("no append waiting on the lock yet: %q %w", out, err)
		}
		return nil
	})
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("the append whose connection was killed succeeded")
		}
		t.Logf("the killed append: %v", err)
	case <-ctx.Done():
		t.Fatal("the append whose connection was killed never returned")
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockEvents); err != nil {
		t.Fatal(err)
	}
	holder.Release()

	// The next calls work, at once (no call fails for the dead connection),
	// and the log has no trace of the killed append.
	last, err := appendEvent("after")
	if err != nil {
		t.Fatalf("append after the drop: %v", err)
	}
	evs, err := s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "first,after" || evs[len(evs)-1].Seq != last.Seq {
		t.Fatalf("events after the drop: %v (last seq %d)", ids, last.Seq)
	}
	if _, err := s.Account(ctx); !errors.Is(err, ivs.ErrNotFound) {
		t.Fatalf("a read after the drop: %v", err)
	}
}
