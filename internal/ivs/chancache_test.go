package ivs_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
)

// Reads go through a cache: every write through the service shows in the
// next read, a caller's changes to what it read do not, and concurrent
// reads and writes end on what was last written.
func TestChannelCache(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	c, k, err := s.CreateChannel(ctx, ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Name: ptr("one")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetChannel(ctx, c.ARN)
	if err != nil || got.Name != "one" {
		t.Fatalf("get: %+v %v", got, err)
	}
	got.Tags["mine"] = "x" // must not reach the cache
	if _, err := s.UpdateChannel(ctx, ivs.UpdateChannelInput{ARN: c.ARN, ChannelInput: ivs.ChannelInput{Name: ptr("two")}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetChannel(ctx, c.ARN); got.Name != "two" || got.Tags["mine"] != "" {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.TagResource(ctx, c.ARN, map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetChannel(ctx, c.ARN); got.Tags["team"] != "a" {
		t.Fatalf("after tag: %+v", got.Tags)
	}
	if got, err := s.ResolveStreamKey(ctx, string(k.Value)); err != nil || got.Name != "two" {
		t.Fatalf("by stream key: %+v %v", got, err)
	}

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if i%2 == 0 {
					_, _ = s.GetChannel(ctx, c.ARN)
				} else {
					_, _ = s.UpdateChannel(ctx, ivs.UpdateChannelInput{ARN: c.ARN, ChannelInput: ivs.ChannelInput{Name: ptr("three")}})
				}
			}
		})
	}
	wg.Wait()
	if got, _ := s.GetChannel(ctx, c.ARN); got.Name != "three" {
		t.Fatalf("after concurrent updates: %q", got.Name)
	}
	if err := s.DeleteChannel(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	var e *ivs.Error
	if _, err := s.GetChannel(ctx, c.ARN); !errors.As(err, &e) || e.Code != ivs.CodeResourceNotFound {
		t.Fatalf("after delete: %v", err)
	}
}
