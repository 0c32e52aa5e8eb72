package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
)

func testChannels(t *testing.T, s Channels) {
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

func testStreamKeys(t *testing.T, s Channels) {
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
