// Package storetest is the behaviour every ivs.Store must show. A store
// implementation's tests call Run with a function that opens an empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Run runs the suite; open must return a new, empty store each call.
func Run(t *testing.T, open func(t *testing.T) ivs.Store) {
	t.Run("Account", func(t *testing.T) { t.Parallel(); testAccount(t, open(t)) })
	t.Run("Channels", func(t *testing.T) { t.Parallel(); testChannels(t, open(t)) })
	t.Run("StreamKeys", func(t *testing.T) { t.Parallel(); testStreamKeys(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); testSessions(t, open(t)) })
	t.Run("Metrics", func(t *testing.T) { t.Parallel(); testMetrics(t, open(t)) })
	t.Run("Events", func(t *testing.T) { t.Parallel(); testEvents(t, open(t)) })
	t.Run("RecordingConfigurations", func(t *testing.T) { t.Parallel(); testRecordingConfigurations(t, open(t)) })
	t.Run("Documents", func(t *testing.T) { t.Parallel(); testDocs(t, open(t)) })
}

func channel(id string) ivs.Channel {
	return ivs.Channel{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + id, Name: "n-" + id,
		Type: ivs.TypeBasic, LatencyMode: ivs.LatencyLow, Tags: map[string]string{"k": "v"},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.UTC),
	}
}

func key(id, channelID string) ivs.StreamKey {
	return ivs.StreamKey{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:stream-key/" + id,
		ChannelID: channelID, ChannelARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + channelID,
		Value: ivs.Secret("sk_us-east-1_" + id), Tags: map[string]string{},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ivs.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func testAccount(t *testing.T, s ivs.Store) {
	ctx := context.Background()
	_, err := s.Account(ctx)
	wantNotFound(t, err)
	a := ivs.Account{ID: "123456789012", AccessKeyID: "AKIAX", SecretAccessKey: "secret"}
	must(t, s.PutAccount(ctx, a))
	a.SecretAccessKey = "other"
	must(t, s.PutAccount(ctx, a))
	got, err := s.Account(ctx)
	must(t, err)
	if got != a {
		t.Fatalf("account = %+v, want %+v", got, a)
	}
}

func testChannels(t *testing.T, s ivs.Store) {
	ctx := context.Background()
	for i := range 5 {
		c := channel(fmt.Sprintf("ch%d", i))
		if i == 3 {
			c.Name = "special"
		}
		must(t, s.CreateChannel(ctx, c, nil))
	}
	got, err := s.GetChannel(ctx, "ch1")
	must(t, err)
	if want := channel("ch1"); got.ARN != want.ARN || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) || got.Tags["k"] != "v" {
		t.Fatalf("GetChannel = %+v, want %+v", got, want)
	}
	_, err = s.GetChannel(ctx, "nope")
	wantNotFound(t, err)

	page, err := s.ListChannels(ctx, ivs.ChannelFilter{}, "", 2)
	must(t, err)
	if len(page) != 2 || page[0].ID != "ch0" || page[1].ID != "ch1" {
		t.Fatalf("first page = %v", ids(page))
	}
	page, err = s.ListChannels(ctx, ivs.ChannelFilter{}, "ch1", 10)
	must(t, err)
	if len(page) != 3 || page[0].ID != "ch2" {
		t.Fatalf("second page = %v", ids(page))
	}
	page, err = s.ListChannels(ctx, ivs.ChannelFilter{Name: "special"}, "", 10)
	must(t, err)
	if len(page) != 1 || page[0].ID != "ch3" {
		t.Fatalf("filtered = %v", ids(page))
	}

	got.Name = "renamed"
	must(t, s.UpdateChannel(ctx, got))
	got, err = s.GetChannel(ctx, "ch1")
	must(t, err)
	if got.Name != "renamed" {
		t.Fatalf("name after update = %q", got.Name)
	}
	wantNotFound(t, s.UpdateChannel(ctx, channel("nope")))
	must(t, s.DeleteChannel(ctx, "ch1"))
	wantNotFound(t, s.DeleteChannel(ctx, "ch1"))
}

func ids(cs []ivs.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testStreamKeys(t *testing.T, s ivs.Store) {
	ctx := context.Background()
	k0 := key("k0", "ch0")
	must(t, s.CreateChannel(ctx, channel("ch0"), &k0))
	must(t, s.CreateStreamKey(ctx, key("k1", "ch0")))
	dup := key("k2", "ch0")
	dup.Value = k0.Value
	if err := s.CreateStreamKey(ctx, dup); !errors.Is(err, ivs.ErrConflict) {
		t.Fatalf("duplicate value: got %v, want ErrConflict", err)
	}
	got, err := s.GetStreamKeyByValue(ctx, k0.Value.Reveal())
	must(t, err)
	if got.ID != "k0" || got.ChannelARN != k0.ChannelARN {
		t.Fatalf("by value = %+v", got)
	}
	_, err = s.GetStreamKeyByValue(ctx, "sk_nope")
	wantNotFound(t, err)
	must(t, s.UpdateStreamKeyTags(ctx, "k0", map[string]string{"a": "b"}))
	got, err = s.GetStreamKey(ctx, "k0")
	must(t, err)
	if got.Tags["a"] != "b" {
		t.Fatalf("tags = %v", got.Tags)
	}
	ks, err := s.ListStreamKeys(ctx, "ch0", "k0", 10)
	must(t, err)
	if len(ks) != 1 || ks[0].ID != "k1" {
		t.Fatalf("list after k0 = %+v", ks)
	}
	must(t, s.DeleteStreamKey(ctx, "k1"))
	wantNotFound(t, s.DeleteStreamKey(ctx, "k1"))
	// Deleting a channel deletes its keys.
	must(t, s.DeleteChannel(ctx, "ch0"))
	_, err = s.GetStreamKey(ctx, "k0")
	wantNotFound(t, err)
}

func testSessions(t *testing.T, s ivs.Store) {
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
		must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: fmt.Sprintf("st-l%d", i), ChannelID: "ch2",
			Channel: channel("ch2"), StartTime: start.Add(d)}))
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

func testDocs(t *testing.T, s ivs.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, id := range []string{"b", "a", "c"} {
		must(t, s.CreateDoc(ctx, ivs.Doc{Kind: "k1", ID: id, Body: []byte(`{"id":"` + id + `"}`), CreatedAt: at}))
	}
	must(t, s.CreateDoc(ctx, ivs.Doc{Kind: "k2", ID: "a", Body: []byte(`{}`), CreatedAt: at}))
	if err := s.CreateDoc(ctx, ivs.Doc{Kind: "k1", ID: "a", Body: []byte(`{}`), CreatedAt: at}); !errors.Is(err, ivs.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	d, err := s.GetDoc(ctx, "k1", "a")
	must(t, err)
	if string(d.Body) != `{"id":"a"}` || !d.CreatedAt.Equal(at) || d.Kind != "k1" || d.ID != "a" {
		t.Fatalf("get: %+v", d)
	}
	_, err = s.GetDoc(ctx, "k3", "a")
	wantNotFound(t, err)
	page, err := s.ListDocs(ctx, "k1", "a", 10)
	must(t, err)
	if len(page) != 2 || page[0].ID != "b" || page[1].ID != "c" {
		t.Fatalf("list after a: %+v", page)
	}
	must(t, s.UpdateDoc(ctx, ivs.Doc{Kind: "k1", ID: "a", Body: []byte(`{"v":2}`)}))
	wantNotFound(t, s.UpdateDoc(ctx, ivs.Doc{Kind: "k1", ID: "zz", Body: []byte(`{}`)}))
	must(t, s.PutDoc(ctx, ivs.Doc{Kind: "k1", ID: "a", Body: []byte(`{"v":3}`), CreatedAt: at}))
	must(t, s.PutDoc(ctx, ivs.Doc{Kind: "k1", ID: "d", Body: []byte(`{"v":1}`), CreatedAt: at}))
	if d, _ := s.GetDoc(ctx, "k1", "a"); string(d.Body) != `{"v":3}` {
		t.Fatalf("after put: %s", d.Body)
	}
	must(t, s.DeleteDoc(ctx, "k1", "a"))
	wantNotFound(t, s.DeleteDoc(ctx, "k1", "a"))
	if all, _ := s.ListDocs(ctx, "k1", "", 10); len(all) != 3 {
		t.Fatalf("after delete: %d", len(all))
	}
	if other, _ := s.ListDocs(ctx, "k2", "", 10); len(other) != 1 {
		t.Fatalf("other kind: %d", len(other))
	}
	if n, err := s.CountDocs(ctx, "k1"); err != nil || n != 3 {
		t.Fatalf("CountDocs: %d, %v; want 3", n, err)
	}
	if n, err := s.CountDocs(ctx, "none"); err != nil || n != 0 {
		t.Fatalf("CountDocs of an empty kind: %d, %v", n, err)
	}
}
