package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

func testEvents(t *testing.T, s interface {
	EventLog
	Sessions
}) {
	ctx := context.Background()
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-e", ChannelID: "che", Channel: channel("che"), StartTime: start}))
	last, err := s.LastEventSeq(ctx)
	must(t, err)
	if last != 0 {
		t.Fatalf("empty log: last seq %d", last)
	}
	limit, by := int64(1_500_000), int64(900_000)
	evs := []ivs.Event{
		{ID: "e1", DetailType: ivs.EventTypeStreamState, Detail: ivs.EventDetail{EventName: ivs.EventSessionCreated}},
		{ID: "e2", DetailType: ivs.EventTypeStreamState, Detail: ivs.EventDetail{EventName: ivs.EventStreamStart}},
		{ID: "e3", DetailType: ivs.EventTypeLimitBreach, Detail: ivs.EventDetail{LimitName: ivs.LimitIngestBitrate,
			LimitValue: &limit, ExceededBy: &by, LimitUnit: ivs.UnitBitsPerSecond}},
	}
	var seqs []int64
	for i := range evs {
		e := &evs[i]
		e.Version, e.Source, e.Account, e.Region = "0", ivs.EventSource, "123456789012", "us-east-1"
		e.Time = start.Add(time.Duration(i) * time.Millisecond)
		e.Resources = []string{channel("che").ARN}
		e.ChannelID, e.StreamID = "che", "st-e"
		e.Detail.ChannelName, e.Detail.StreamID = "n-che", "st-e"
		must(t, s.AppendEvent(ctx, e))
		seqs = append(seqs, e.Seq)
	}
	// Another stream's event, and one of no stream (account level).
	other := ivs.Event{ID: "e4", DetailType: ivs.EventTypeStreamState, StreamID: "st-x", ChannelID: "chx", Time: start, Resources: []string{}}
	must(t, s.AppendEvent(ctx, &other))
	if !(seqs[0] < seqs[1] && seqs[1] < seqs[2] && seqs[2] < other.Seq) {
		t.Fatalf("seqs %v, %d not increasing", seqs, other.Seq)
	}
	dup := ivs.Event{ID: "e1", DetailType: ivs.EventTypeStreamState}
	if err := s.AppendEvent(ctx, &dup); err == nil {
		t.Fatal("an event id stored twice")
	}

	got, err := s.SessionEvents(ctx, "st-e", 2)
	must(t, err)
	if len(got) != 2 || got[0].ID != "e3" || got[1].ID != "e2" {
		t.Fatalf("latest session events %v", eventIDs(got))
	}
	// The whole event comes back: envelope, detail and index fields.
	b := got[0]
	if b.Seq != seqs[2] || b.ChannelID != "che" || b.StreamID != "st-e" || !b.Time.Equal(evs[2].Time) ||
		b.Detail.LimitValue == nil || *b.Detail.LimitValue != limit || *b.Detail.ExceededBy != by ||
		b.Account != "123456789012" || b.Resources[0] != channel("che").ARN {
		t.Fatalf("stored event %+v", b)
	}
	after, err := s.EventsAfter(ctx, seqs[0], 10)
	must(t, err)
	if fmt.Sprint(eventIDs(after)) != "[e2 e3 e4]" {
		t.Fatalf("events after the first: %v", eventIDs(after))
	}
	after, err = s.EventsAfter(ctx, 0, 1)
	must(t, err)
	if fmt.Sprint(eventIDs(after)) != "[e1]" {
		t.Fatalf("first event: %v", eventIDs(after))
	}
	last, err = s.LastEventSeq(ctx)
	must(t, err)
	if last != other.Seq {
		t.Fatalf("last seq %d, want %d", last, other.Seq)
	}

	// The limit breach marked its session.
	ss, err := s.GetStreamSession(ctx, "che", "st-e")
	must(t, err)
	if !ss.HasErrorEvent {
		t.Fatal("a session with a limit breach has no error event")
	}

	// Cursors.
	if _, ok, err := s.Cursor(ctx, "webhook:a"); err != nil || ok {
		t.Fatalf("unset cursor: ok %v, %v", ok, err)
	}
	must(t, s.SetCursor(ctx, "webhook:a", 7))
	must(t, s.SetCursor(ctx, "webhook:a", 9))
	// Never back: a process that lost the webhook's leadership may write
	// its last delivery's cursor after its successor went further.
	must(t, s.SetCursor(ctx, "webhook:a", 8))
	if n, ok, err := s.Cursor(ctx, "webhook:a"); err != nil || !ok || n != 9 {
		t.Fatalf("cursor %d %v %v, want 9", n, ok, err)
	}
}

func eventIDs(evs []ivs.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
