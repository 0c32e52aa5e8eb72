package postgres

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() {
	suites["EventOrder"] = testEventOrder
	suites["EventNotify"] = testEventNotify
}

// The event log is an outbox read by seq: webhooks follow it with
// EventsAfter(cursor), and a reader that once saw seq N+1 before N
// committed has moved its cursor past N for good. Appenders in goroutines
// of two processes (two stores on one database) write while a reader
// follows the log as the webhook dispatcher does; every batch it reads must
// continue exactly after its cursor (no append here fails, so seqs have no
// holes), and it must see every event once. Without AppendEvent's
// commit-order lock this fails within a few hundred appends.
func testEventOrder(t *testing.T, pg *harness.Postgres) {
	const (
		writers   = 8
		perWriter = 400
		total     = writers * perWriter
		batch     = 100 // the dispatcher's batch size
		cursor    = "webhook:order"
	)
	url := newDatabase(t, pg)
	stores := []*Store{openStore(t, url), openStore(t, url)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A session that the limit breaches among the events mark.
	if _, err := stores[0].pool.Exec(ctx, "INSERT INTO stream_sessions (stream_id, channel_id, channel, start_time) VALUES ('st-order', 'ch', '{}', $1)",
		rowcodec.FormatTime(time.Now())); err != nil {
		t.Fatal(err)
	}

	var writing atomic.Bool
	writing.Store(true)
	type read struct {
		seen        map[string]int64 // event id → seq read
		readsDuring int              // non-empty batches read while appends went on
		err         error
	}
	done := make(chan read, 1)
	go func() {
		r := read{seen: make(map[string]int64, total)}
		defer func() { done <- r }()
		s := stores[0]
		at, ok, err := s.Cursor(ctx, cursor)
		if err != nil {
			r.err = err
			return
		}
		if ok || at != 0 {
			r.err = fmt.Errorf("a cursor never set: %d, %v", at, ok)
			return
		}
		for {
			// Read the flag before the batch: an empty batch read after
			// the last append committed means the log is drained.
			stillWriting := writing.Load()
			evs, err := s.EventsAfter(ctx, at, batch)
			if err != nil {
				r.err = err
				return
			}
			if len(evs) == 0 && !stillWriting {
				return
			}
			if len(evs) > 0 && stillWriting {
				r.readsDuring++
			}
			for _, e := range evs {
				if e.Seq != at+1 {
					r.err = fmt.Errorf("after cursor %d the log returned seq %d: seq %d became visible after a greater one, and a webhook would never deliver it",
						at, e.Seq, at+1)
					return
				}
				if prev, dup := r.seen[e.ID]; dup {
					r.err = fmt.Errorf("event %s read twice, as seq %d and %d", e.ID, prev, e.Seq)
					return
				}
				r.seen[e.ID] = e.Seq
				at = e.Seq
			}
			if len(evs) > 0 {
				if err := s.SetCursor(ctx, cursor, at); err != nil {
					r.err = err
					return
				}
			}
		}
	}()

	appended := make([]map[string]int64, writers)
	errs := make([]error, writers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := stores[w%len(stores)]
			appended[w] = make(map[string]int64, perWriter)
			for i := range perWriter {
				e := ivs.Event{ID: fmt.Sprintf("w%d-%d", w, i), DetailType: ivs.EventTypeStreamState, Time: time.Now(),
					ChannelID: "ch", StreamID: "st-order", Resources: []string{},
					Detail: ivs.EventDetail{EventName: ivs.EventStreamStart}}
				if i%50 == 0 { // an error event also updates the session in the transaction
					e.DetailType, e.Detail = ivs.EventTypeLimitBreach, ivs.EventDetail{LimitName: ivs.LimitIngestBitrate}
				}
				if err := s.AppendEvent(ctx, &e); err != nil {
					errs[w] = err
					return
				}
				appended[w][e.ID] = e.Seq
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	writing.Store(false)
	r := <-done
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("%d appends from %d goroutines of 2 stores in %v (%.0f/s); the reader read %d batches while they ran",
		total, writers, elapsed.Round(time.Millisecond), total/elapsed.Seconds(), r.readsDuring)
	if r.readsDuring == 0 {
		t.Fatal("the reader read nothing while the appends ran: the test proved nothing")
	}
	if len(r.seen) != total {
		t.Fatalf("the reader saw %d events, %d were appended", len(r.seen), total)
	}
	for _, m := range appended {
		for id, seq := range m {
			if r.seen[id] != seq {
				t.Fatalf("event %s: appended as seq %d, read as %d", id, seq, r.seen[id])
			}
		}
	}
	if n, ok, err := stores[1].Cursor(ctx, cursor); err != nil || !ok || n != total {
		t.Fatalf("cursor after the run: %d, %v, %v; want %d", n, ok, err, total)
	}
	if last, err := stores[1].LastEventSeq(ctx); err != nil || last != total {
		t.Fatalf("last seq %d, %v; want %d", last, err, total)
	}
	var hasError bool
	if err := stores[1].pool.QueryRow(ctx, "SELECT has_error FROM stream_sessions WHERE stream_id = 'st-order'").Scan(&hasError); err != nil || !hasError {
		t.Fatalf("session has_error %v, %v: the limit breaches did not mark it", hasError, err)
	}
	latest, err := stores[1].SessionEvents(ctx, "st-order", 3)
	if err != nil || len(latest) != 3 || latest[0].Seq != total || latest[2].Seq != total-2 {
		t.Fatalf("latest session events %+v, %v", latest, err)
	}
}

// AppendEvent notifies onair_events with the new seq when it commits, and
// a failed append notifies no one.
func testEventNotify(t *testing.T, pg *harness.Postgres) {
	url := newDatabase(t, pg)
	s := openStore(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyEvents); err != nil {
		t.Fatal(err)
	}
	appendEvent := func(id string) (ivs.Event, error) {
		e := ivs.Event{ID: id, DetailType: ivs.EventTypeStreamState, Time: time.Now(), Resources: []string{}}
		return e, s.AppendEvent(ctx, &e)
	}
	first, err := appendEvent("n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appendEvent("n1"); err == nil { // its transaction rolls back
		t.Fatal("an event id stored twice")
	}
	second, err := appendEvent("n2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []ivs.Event{first, second} {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.Channel != notifyEvents || n.Payload != strconv.FormatInt(want.Seq, 10) {
			t.Fatalf("notification %s %q, want %s %d", n.Channel, n.Payload, notifyEvents, want.Seq)
		}
	}
}
