package sfu

import (
	"fmt"
	"sync"
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
// direct: written by forward itself, with the fan-out workers (stopped at
// the test's end); else queued.
func fanout(tb testing.TB, n int, direct bool) (*media, *layer, []*downTrack) {
	room := NewRoom(Config{})
	pub := &Publisher{id: "p", room: room}
	if direct {
		pub.fan = newFanPool(room.metrics)
		tb.Cleanup(pub.fan.stop)
	}
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
		d.direct.Store(direct)
		m.add(d)
		downs[i] = d
	}
	return m, l, downs
}

// drain writes what forward queued, as the down-tracks' goroutines do.
func drain(downs []*downTrack) {
	var t tally
	for _, d := range downs {
		if !d.direct.Load() {
			d.handle(<-d.q, &t)
		}
	}
	t.flush(downs[0].m.pub.room.metrics)
}

// One packet fanned out to 1, 10, 100, 300 and 1000 subscribers (the
// workers share the last) and written by each (header rewritten, payload
// shared), directly or queued: allocations must not grow with subscribers.
func BenchmarkForward(b *testing.B) {
	for _, direct := range []bool{true, false} {
		for _, n := range []int{1, 10, 100, 300, 1000} {
			b.Run(fmt.Sprint(map[bool]string{true: "direct", false: "queued"}[direct], "/", n, "subscribers"), func(b *testing.B) {
				benchForward(b, n, direct)
			})
		}
	}
}

func benchForward(b *testing.B, n int, direct bool) {
	{
		{
			m, l, downs := fanout(b, n, direct)
			var j fanJob
			p := &packet{hdr: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1, SSRC: 9},
				payload: make([]byte, 1100), key: true}
			copy(p.payload, vp8Key)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.arrival = monotime()
				l.last.Store(p.arrival)
				m.forward(p, &j)
				drain(downs)
				p.hdr.SequenceNumber++
				p.hdr.Timestamp += 3000
				p.key = false
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/subscriber")
		}
	}
}

// The fan-out path allocates nothing per subscriber per packet, written
// by the reader alone (10), with the workers (2 and 3 chunks), or queued.
func TestForwardAllocs(t *testing.T) {
	for _, tc := range []struct {
		n      int
		direct bool
	}{{10, true}, {fanOutChunk + 1, true}, {2*fanOutChunk + 7, true}, {50, false}} {
		t.Run(fmt.Sprint(tc.n, tc.direct), func(t *testing.T) { testForwardAllocs(t, tc.n, tc.direct) })
	}
}

func testForwardAllocs(t *testing.T, n int, direct bool) {
	m, l, downs := fanout(t, n, direct)
	var j fanJob
	p := &packet{hdr: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1}, payload: vp8Key, key: true}
	step := func() {
		p.arrival = monotime()
		l.last.Store(p.arrival)
		m.forward(p, &j)
		drain(downs)
		p.hdr.SequenceNumber++
		p.key = false
	}
	step()
	// AllocsPerRun calls step once more than it counts.
	if a := testing.AllocsPerRun(200, step); a != 0 {
		t.Fatalf("%v allocations per packet to %d subscribers", a, len(downs))
	}
	if got := m.pub.room.metrics.PacketsForwarded.Load(); got != (1+200+1)*uint64(n) {
		t.Fatalf("%d packets forwarded", got)
	}
	// One packet in delaySample of each subscriber is timed.
	if _, c, _ := m.pub.room.metrics.ForwardDelay.Snapshot(); c != (1+200+1)/delaySample*uint64(n) {
		t.Fatalf("%d delays sampled", c)
	}
	for _, d := range downs {
		if d.lastSeq-d.seqOff != p.hdr.SequenceNumber-1 {
			t.Fatal("a subscriber missed packets")
		}
	}
}

// seqWriter checks that a down-track's packets are written in sequence.
type seqWriter struct {
	n    int
	last uint16
	bad  bool
}

func (w *seqWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	if w.n > 0 && h.SequenceNumber != w.last+1 {
		w.bad = true
	}
	w.n, w.last = w.n+1, h.SequenceNumber
	return 0, nil
}
func (w *seqWriter) Write(b []byte) (int, error) { return len(b), nil }

// Two layers' readers fan out at once to the same subscribers, with the
// workers: each subscriber gets the higher layer's every packet, in order,
// once (the race detector watches the rest).
func TestForwardConcurrentReaders(t *testing.T) {
	m, _, downs := fanout(t, 2*fanOutChunk+100, true)
	hi := &layer{idx: 1}
	m.layers[1].Store(hi)
	hi.last.Store(monotime())
	ws := make([]*seqWriter, len(downs))
	for i, d := range downs {
		ws[i] = &seqWriter{}
		d.w = ws[i]
		d.want.Store(d.target(monotime()))
	}
	const packets = 100
	var wg sync.WaitGroup
	for _, l := range []int8{0, 1} {
		wg.Go(func() {
			var j fanJob
			for i := range packets {
				p := &packet{hdr: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(1000*int(l) + i), Timestamp: 1},
					payload: vp8Key, key: i == 0, layer: l, arrival: monotime()}
				m.layers[l].Load().last.Store(p.arrival)
				m.forward(p, &j)
			}
		})
	}
	wg.Wait()
	for i, w := range ws {
		if w.n != packets || w.bad || downs[i].selected() != 1 {
			t.Fatalf("subscriber %d: %d packets of %d, in order %v, layer %d", i, w.n, packets, !w.bad, downs[i].selected())
		}
	}
}
