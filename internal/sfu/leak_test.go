package sfu

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Publishers, subscriptions and rooms, closed each way, leave no goroutine
// behind. Not parallel: it counts the process's goroutines.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		room := newTestRoom(t)
		pc := publish(t, room, "pub", capVP8, simulcastClips(t))
		a := subscribe(t, room, "a", "pub", SubscribeOptions{})
		b := subscribe(t, room, "b", "pub", SubscribeOptions{InitialLayer: LayerLowest})
		eventually(t, 20*time.Second, "frames", func() bool { return a.nFrames() > 10 && b.nFrames() > 10 })
		// A subscription closed by the SFU, one by its peer, the rest by
		// the room.
		a.sub.Close()
		_ = b.pc.Close()
		select {
		case <-b.sub.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("a subscription outlived its peer connection")
		}
		c := subscribe(t, room, "c", "pub", SubscribeOptions{})
		eventually(t, 20*time.Second, "frames", func() bool { return c.nFrames() > 5 })
		room.Close()
		<-pc.pub.Done()
		<-c.sub.Done()
		if _, _, err := room.Publish(t.Context(), "late", "v=0"); !errors.Is(err, ErrClosed) {
			t.Fatalf("publish into a closed room: %v", err)
		}
	})
	var after int
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = runtime.NumGoroutine()
		if after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var ours []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "internal/sfu") {
				ours = append(ours, g)
			}
		}
		t.Fatalf("%d goroutines before, %d after; the SFU's:\n%s", before, after, strings.Join(ours, "\n\n"))
	}
}
