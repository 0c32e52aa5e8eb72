package sfu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// fanOutChunk is the most subscribers one goroutine writes a packet to. A
// publisher's reader writes each packet to its subscribers itself; with
// more, it splits them in even chunks and shares them with the
// publisher's fan-out workers, one per spare core. A write is 2–5 µs (SRTP
// and a sendmsg), so a chunk is at most ~2 ms. Below that one goroutine
// is faster than several: every write goes to the one UDP socket, whose
// write lock parks a goroutine that finds it taken (no spinning), and the
// hand-offs cost more than they save. Measured on the 2-core bench machine
// at 300 and 400 subscribers: the reader alone had onair's delay p50 at
// 0.34–0.44 ms and 35–42 % of a core; two goroutines 0.8–1.1 ms and up to
// 64 %.
const fanOutChunk = 512

// tally counts a chunk's forwarded packets, added to the shared metrics
// once per chunk rather than once per subscriber (their atomics are shared
// by every core).
type tally struct{ packets, bytes uint64 }

func (t *tally) flush(m *Metrics) {
	if t.packets > 0 {
		m.PacketsForwarded.Add(t.packets)
		m.BytesForwarded.Add(t.bytes)
		*t = tally{}
	}
}

// fanJob is one reader's packet being fanned out, its chunks claimed by
// the reader and the workers. Each reader has one, reused for every packet:
// the reader publishes a packet's chunks in state and waits for them all
// before the next, so a worker woken late for an old packet can only claim
// the current one's chunks.
type fanJob struct {
	p     atomic.Pointer[packet]
	downs atomic.Pointer[[]*downTrack]
	size  atomic.Int64 // subscribers per chunk
	// state is the number of chunks (high 32 bits) and the next one to
	// claim (low 32): one word, so a claim is one compare-and-swap.
	state atomic.Uint64
	wg    sync.WaitGroup
}

// claim writes the packet to unclaimed chunks until none is left.
func (j *fanJob) claim(mt *Metrics) {
	for {
		s := j.state.Load()
		i, n := uint32(s), uint32(s>>32)
		if i >= n {
			return
		}
		if !j.state.CompareAndSwap(s, s+1) {
			continue
		}
		downs, size := *j.downs.Load(), int(j.size.Load())
		fanChunk(downs[int(i)*size:min(len(downs), int(i+1)*size)], j.p.Load(), mt)
		j.wg.Done()
	}
}

// fanChunk offers p to each of downs: written at once to a subscriber
// whose transport cannot block, queued for the others.
func fanChunk(downs []*downTrack, p *packet, mt *Metrics) {
	var t tally
	for _, d := range downs {
		d.offer(p, &t)
	}
	t.flush(mt)
}

// fanPool is a publisher's fan-out workers.
type fanPool struct {
	hints   chan *fanJob
	workers int
	done    chan struct{}
	wg      sync.WaitGroup
}

func newFanPool(mt *Metrics) *fanPool {
	n := runtime.GOMAXPROCS(0) - 1
	fp := &fanPool{hints: make(chan *fanJob, 4*max(n, 1)), workers: n, done: make(chan struct{})}
	for range n {
		fp.wg.Go(func() {
			for {
				select {
				case <-fp.done:
					return
				case j := <-fp.hints:
					j.claim(mt)
				}
			}
		})
	}
	return fp
}

// stop ends the workers, once no reader forwards any more.
func (fp *fanPool) stop() {
	if fp == nil {
		return
	}
	close(fp.done)
	fp.wg.Wait()
}

// forward hands p to every down-track. The reader writes it to the
// subscribers itself (and waits for the workers sharing the chunks), so a
// packet wakes at most a worker per spare core, not a goroutine per
// subscriber; no transport that can block is written here (offer).
func (m *media) forward(p *packet, j *fanJob) {
	mt := m.pub.room.metrics
	downs := m.downs.Load()
	chunks := (len(*downs) + fanOutChunk - 1) / fanOutChunk
	fp := m.pub.fan
	if chunks <= 1 || fp == nil || fp.workers == 0 {
		fanChunk(*downs, p, mt)
		return
	}
	j.p.Store(p)
	j.downs.Store(downs)
	j.size.Store(int64((len(*downs) + chunks - 1) / chunks))
	j.wg.Add(chunks)
	j.state.Store(uint64(chunks) << 32)
	for range min(fp.workers, chunks-1) {
		select {
		case fp.hints <- j:
		default: // the workers have enough to look at; the reader does the rest
		}
	}
	j.claim(mt)
	j.wg.Wait()
}
