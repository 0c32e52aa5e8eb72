package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

func testSessions(t *testing.T, s Sessions) {
	ctx := context.Background()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-1", ChannelID: "ch0", Channel: channel("ch0"), StartTime: start}))
	must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-2", ChannelID: "ch1", Channel: channel("ch1"), StartTime: start}))
	open, err := s.OpenStreamSession(ctx, "ch0")
	must(t, err)
	if open.StreamID != "st-1" || open.Channel.Name != "n-ch0" || !open.StartTime.Equal(start) {
		t.Fatalf("open = %+v", open)
	}
	must(t, s.EndStreamSession(ctx, "st-1", start.Add(time.Minute)))
	wantNotFound(t, s.EndStreamSession(ctx, "st-1", start.Add(time.Minute)))
	_, err = s.OpenStreamSession(ctx, "ch0")
	wantNotFound(t, err)
	ended, err := s.EndOpenStreamSessions(ctx, start.Add(time.Hour))
	must(t, err)
	if len(ended) != 1 || ended[0].StreamID != "st-2" || !ended[0].EndTime.Equal(start.Add(time.Hour)) ||
		ended[0].Channel.Name != "n-ch1" {
		t.Fatalf("ended %+v, want st-2 at the given end", ended)
	}
	_, err = s.OpenStreamSession(ctx, "ch1")
	wantNotFound(t, err)

	// Listing: newest first, half a second apart (text-sortable times),
	// two sharing a start, paged.
	for i, d := range []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second, 2 * time.Second} {
		id := fmt.Sprintf("st-l%d", i)
		must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: id, ChannelID: "ch2",
			Channel: channel("ch2"), StartTime: start.Add(d)}))
		// A channel has one open session at a time (PostgreSQL's
		// schema holds onair to it).
		must(t, s.EndStreamSession(ctx, id, start.Add(d)))
	}
	var got []string
	after := ""
	for {
		page, err := s.ListStreamSessions(ctx, "ch2", after, 3)
		must(t, err)
		for _, ss := range page {
			got = append(got, ss.StreamID)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].StreamID
	}
	if want := "[st-l3 st-l2 st-l1 st-l0]"; fmt.Sprint(got) != want {
		t.Fatalf("sessions listed %v, want %s", got, want)
	}
	latest, err := s.GetStreamSession(ctx, "ch2", "")
	must(t, err)
	one, err := s.GetStreamSession(ctx, "ch2", "st-l1")
	must(t, err)
	if latest.StreamID != "st-l3" || one.StreamID != "st-l1" || !one.StartTime.Equal(start.Add(1500*time.Millisecond)) {
		t.Fatalf("latest %s, st-l1 %+v", latest.StreamID, one)
	}
	_, err = s.GetStreamSession(ctx, "ch0", "st-l1") // another channel's
	wantNotFound(t, err)
	_, err = s.GetStreamSession(ctx, "ch9", "")
	wantNotFound(t, err)
}
