package rtpmedia

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	for _, tc := range []struct {
		name    string
		rate    int64
		ts      []uint32
		arrival time.Duration // of the first packet after start
		want    []time.Duration
	}{
		{"from arrival", 90000, []uint32{1000, 4000, 91000}, 50 * time.Millisecond,
			[]time.Duration{50 * time.Millisecond, 50*time.Millisecond + time.Second/30, 1050 * time.Millisecond}},
		{"wraps", 48000, []uint32{0xffffff00, 0x2c0, 0x680}, 0,
			[]time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond}},
		{"goes back", 90000, []uint32{9000, 0}, 0, []time.Duration{0, -100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Clock{Rate: tc.rate}
			for i, ts := range tc.ts {
				if got := c.PTS(ts, start.Add(tc.arrival+time.Duration(i)*time.Hour), start); got != tc.want[i] {
					t.Errorf("packet %d: %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestVP8Keyframe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		b    []byte
		key  bool
		w, h int
	}{
		{"keyframe 640x480", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, true, 640, 480},
		{"scale bits ignored", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0xc2, 0xe0, 0x41}, true, 640, 480},
		{"interframe", []byte{0x11, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, false, 0, 0},
		{"no start code", []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2b, 0x80, 0x02, 0xe0, 0x01}, false, 0, 0},
		{"short", []byte{0x10, 0x02}, false, 0, 0},
	} {
		key, w, h := VP8Keyframe(tc.b)
		if key != tc.key || w != tc.w || h != tc.h {
			t.Errorf("%s: %v %dx%d, want %v %dx%d", tc.name, key, w, h, tc.key, tc.w, tc.h)
		}
	}
}

func FuzzVP8Keyframe(f *testing.F) {
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if key, w, h := VP8Keyframe(b); !key && (w != 0 || h != 0) || w > 0x3fff || h > 0x3fff {
			t.Fatalf("%v %dx%d", key, w, h)
		}
	})
}

// FuzzWriteVideo: any packets make units or nothing, never a panic.
func FuzzWriteVideo(f *testing.F) {
	f.Add(uint16(1), uint32(0), []byte{0x7c, 0x85, 0x88}, []byte{0x67, 0x42})
	f.Fuzz(func(t *testing.T, seq uint16, ts uint32, a, b []byte) {
		c, err := New(context.Background(), Config{Video: H264, Start: func([]*stream.Track) error { return nil }, Unit: func(*stream.Unit) {}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, p := range [][]byte{a, b, a} {
			c.WriteVideo(&rtp.Header{SequenceNumber: seq + uint16(i), Timestamp: ts + uint32(i/2)*3000, Marker: i == 1}, p)
		}
	})
}

// packets packetizes the clip's access units as a WebRTC publisher does,
// one frame per 1/30 s of RTP time.
func packets(v *streamtest.Video) []*rtp.Packet {
	pk := rtp.NewPacketizer(1200, 96, 1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	var out []*rtp.Packet
	for _, au := range v.AUs {
		var annexB []byte
		for _, n := range au {
			annexB = append(append(annexB, 0, 0, 0, 1), n...)
		}
		out = append(out, pk.Packetize(annexB, 3000)...)
	}
	return out
}

// H.264 RTP becomes the clip's access units again, from its first
// keyframe on, at media time 0 and 1/30 s apart; a lost packet asks for a
// keyframe.
func TestConverterH264(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	for _, tc := range []struct {
		name      string
		skipFirst int // packets not sent before the first
		drop      int // a packet lost in the middle (0: none)
		wantKey   bool
	}{
		{"whole", 0, 0, false},
		{"joins mid-GOP", 0, 0, false},
		{"loses a packet", 0, 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pkts := packets(v)
			if tc.name == "joins mid-GOP" {
				pkts = pkts[len(pkts)/6:] // starts inside the first second
			}
			var mu sync.Mutex
			var tracks []*stream.Track
			var units []*stream.Unit
			keyframes := 0
			c, err := New(context.Background(), Config{Video: H264,
				Start:    func(tr []*stream.Track) error { mu.Lock(); tracks = tr; mu.Unlock(); return nil },
				Unit:     func(u *stream.Unit) { mu.Lock(); units = append(units, u); mu.Unlock() },
				Keyframe: func() { mu.Lock(); keyframes++; mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pkts {
				if tc.drop > 0 && i == tc.drop {
					continue
				}
				c.WriteVideo(&p.Header, p.Payload)
			}
			c.Close()
			mu.Lock()
			defer mu.Unlock()
			if len(tracks) != 1 {
				t.Fatalf("tracks %v", tracks)
			}
			if len(units) < streamtest.FPS || !units[0].RandomAccess || units[0].PTS != 0 {
				t.Fatalf("%d units; the first %+v", len(units), units[0])
			}
			for i, u := range units[1:] {
				if d := u.PTS - units[i].PTS; d < time.Second/30-time.Millisecond || (d > time.Second/30+time.Millisecond && !tc.wantKey) {
					t.Fatalf("unit %d: %v after the previous", i+1, d)
				}
				if !h264.IsRandomAccess(u.Payload) && u.RandomAccess {
					t.Fatalf("unit %d marked random access", i+1)
				}
			}
			if (keyframes > 0) != tc.wantKey {
				t.Errorf("%d keyframe requests", keyframes)
			}
		})
	}
}

// A stream whose start is refused (the channel could not go live) ends:
// Failed hears why, and no unit comes.
func TestConverterStartRefused(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	failed := make(chan error, 1)
	var units atomic.Int32
	refused := errors.New("channel taken")
	c, err := New(context.Background(), Config{Video: H264, Start: func([]*stream.Track) error { return refused },
		Unit: func(*stream.Unit) { units.Add(1) }, Failed: func(err error) { failed <- err }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range packets(v) {
		c.WriteVideo(&p.Header, p.Payload)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, refused) {
			t.Fatalf("failed with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Failed not called")
	}
	if n := units.Load(); n != 0 {
		t.Fatalf("%d units after the refusal", n)
	}
}
