package sfu

import (
	"errors"
	"testing"
	"time"

	"github.com/onair-video/onair/test/e2e/harness"
)

// Pause stops a subscriber's video (its audio goes on); Play resumes it at
// a keyframe, its sequence numbers continuing. Unknown mids and a closed
// subscription are refused.
func TestPausePlay(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	publish(t, room, "pub", capVP8, []layerClip{{"", harness.MakeVP8Clip(t, "320x180", 30, 2*time.Second)}})
	s := subscribe(t, room, "sub", "pub", SubscribeOptions{})
	eventually(t, 20*time.Second, "frames", func() bool { return s.nFrames() > 30 })
	audio := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.audio
	}
	if err := s.sub.Pause("1"); err != nil {
		t.Fatal(err)
	}
	if err := s.sub.Pause("1"); err != nil {
		t.Fatalf("pausing twice: %v", err)
	}
	// Paused: no frame for a second running, while audio goes on.
	last, since, a := s.nFrames(), time.Now(), audio()
	eventually(t, 20*time.Second, "the video paused", func() bool {
		if n := s.nFrames(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > time.Second
	})
	if audio() <= a+20 {
		t.Fatalf("audio stopped too: %d → %d packets", a, audio())
	}
	paused := s.nFrames()
	if err := s.sub.Play("1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the video resumed", func() bool { return s.nFrames() > paused+20 })
	frames, seqs, _ := s.snapshot()
	// The sample builder gives out the last frame before the pause only
	// when the next one starts: frames[paused] is that one.
	if _, _, key := vp8FrameSize(frames[paused+1].data); !key {
		t.Fatalf("the first frame after Play is not a keyframe")
	}
	if err := contiguous(seqs, 30); err != nil {
		t.Fatalf("sequence numbers across the pause: %v", err)
	}
	if err := s.sub.Play("1"); err != nil {
		t.Fatalf("playing what plays: %v", err)
	}
	for _, mid := range []string{"7", ""} {
		if err := s.sub.Pause(mid); !errors.Is(err, ErrMediaNotFound) {
			t.Errorf("Pause(%q): %v, want ErrMediaNotFound", mid, err)
		}
	}
	s.sub.Close()
	if err := s.sub.Play("1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close: %v, want ErrClosed", err)
	}
}
