package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// nopWriter is a transport that takes every packet at once.
type nopWriter struct{}

func (nopWriter) WriteRTP(*rtp.Header, []byte) (int, error) { return 0, nil }
func (nopWriter) Write(b []byte) (int, error)               { return len(b), nil }

// fanout is a video track with n bound, connected subscribers on a
// transport that never waits, without pion: the SFU's own work per packet.
func fanout(n int) (*media, *layer, []*downTrack) {
	room := NewRoom(Config{})
	pub := &Publisher{id: "p", room: room}
	m := newMedia(pub, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96})
	l := &layer{idx: 0}
	m.layers[0].Store(l)
	downs := make([]*downTrack, n)
	for i := range downs {
		s := &Subscription{pub: pub}
		s.connected.Store(true)
		d := newDownTrack(m, s, -1)
		d.w, d.ssrc, d.pt = nopWriter{}, uint32(i+1), 96
		m.add(d)
		downs[i] = d
	}
	return m, l, downs
}

// One packet fanned out to 1, 10 and 100 subscribers and written by each
// (header rewritten, payload shared): allocations must not grow with
// subscribers.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprint(n, "subscribers"), func(b *testing.B) {
			m, l, downs := fanout(n)
			p := &packet{hdr: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1, SSRC: 9},
				payload: make([]byte, 1100), key: true}
			copy(p.payload, vp8Key)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.arrival = monotime()
				l.last.Store(p.arrival)
				m.forward(p)
				for _, d := range downs {
					d.handle(<-d.q)
				}
				p.hdr.SequenceNumber++
				p.hdr.Timestamp += 3000
				p.key = false
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/subscriber")
		})
	}
}

// The fan-out path allocates nothing per subscriber per packet.
func TestForwardAllocs(t *testing.T) {
	m, l, downs := fanout(50)
	p := &packet{hdr: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1}, payload: vp8Key, key: true}
	step := func() {
		p.arrival = monotime()
		l.last.Store(p.arrival)
		m.forward(p)
		for _, d := range downs {
			d.handle(<-d.q)
		}
		p.hdr.SequenceNumber++
		p.key = false
	}
	step()
	// AllocsPerRun calls step once more than it counts.
	if a := testing.AllocsPerRun(200, step); a != 0 {
		t.Fatalf("%v allocations per packet to %d subscribers", a, len(downs))
	}
	if got := m.pub.room.metrics.PacketsForwarded.Load(); got != (1+200+1)*50 {
		t.Fatalf("%d packets forwarded", got)
	}
	// One packet in delaySample of each subscriber is timed.
	if _, n, _ := m.pub.room.metrics.ForwardDelay.Snapshot(); n != (1+200+1)/delaySample*50 {
		t.Fatalf("%d delays sampled", n)
	}
	for _, d := range downs {
		if d.lastSeq-d.seqOff != p.hdr.SequenceNumber-1 {
			t.Fatal("a subscriber missed packets")
		}
	}
}
