package compose

import (
	"context"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/stream"
)

// A reader asked for before the composite's hub exists gets its first
// keyframe; one asked for after it is made at once.
func TestOutputSubscribe(t *testing.T) {
	t.Parallel()
	ready := 0
	o := newOutput(VideoSpec{Width: 320, Height: 240, FPS: 30}, func() { ready++ })
	early := o.Subscribe(16, stream.Resync)
	select {
	case <-early:
		t.Fatal("a reader before the hub exists")
	default:
	}
	idr := [][]byte{testSPS, testPPS, slice(5, 100)}
	o.writeVideo(stamp{pts: 0, at: time.Now()}, [][]byte{slice(1, 50)}) // no hub before a keyframe
	if o.Hub() != nil {
		t.Fatal("a hub from a P-frame")
	}
	o.writeVideo(stamp{pts: 0, at: time.Now()}, idr)
	if ready != 1 {
		t.Fatalf("onReady called %d times", ready)
	}
	rd := <-early
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := rd.Read(ctx)
	if err != nil || !u.RandomAccess || u.PTS != 0 {
		t.Fatalf("the early reader's first unit: %+v %v", u, err)
	}
	late := <-o.Subscribe(16, stream.Resync)
	defer late.Close()
	o.writeVideo(stamp{pts: 33 * time.Millisecond, at: time.Now()}, [][]byte{slice(1, 50)})
	if u, err := rd.Read(ctx); err != nil || u.RandomAccess {
		t.Fatalf("the early reader's second unit: %+v %v", u, err)
	}
	if u, err := late.Read(ctx); err != nil || u.PTS != 33*time.Millisecond {
		t.Fatalf("the late reader's first unit: %+v %v", u, err)
	}
	o.close()
}
