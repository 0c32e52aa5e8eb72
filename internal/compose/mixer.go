package compose

import (
	"encoding/binary"
	"sync"
)

// The composite's audio: 48 kHz stereo, signed 16-bit little-endian.
const (
	SampleRate    = 48000
	AudioChannels = 2
	frameBytes    = 2 * AudioChannels // one sample of every channel
)

// Jitter bounds of a participant's audio queue, in samples per channel:
// mixing starts once primeSamples are queued (so that a late packet does
// not make a gap at once), and a queue past maxQueued (the participant's
// clock runs fast, or a burst came) is cut back to primeSamples, the
// oldest dropped, so its delay stays bounded.
const (
	primeSamples = SampleRate * 60 / 1000
	maxQueued    = SampleRate * 300 / 1000
)

// audioQueue is one participant's decoded audio waiting to be mixed.
type audioQueue struct {
	mu     sync.Mutex
	buf    []int16 // interleaved
	primed bool
	muted  bool
}

// Write appends decoded s16le interleaved PCM.
func (q *audioQueue) Write(pcm []byte) {
	n := len(pcm) / 2
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range n {
		q.buf = append(q.buf, int16(binary.LittleEndian.Uint16(pcm[2*i:])))
	}
	if len(q.buf) > maxQueued*AudioChannels {
		drop := len(q.buf) - primeSamples*AudioChannels
		q.buf = append(q.buf[:0], q.buf[drop:]...)
	}
	if len(q.buf) >= primeSamples*AudioChannels {
		q.primed = true
	}
}

// SetMuted: a muted participant is not mixed, and what it queued is dropped.
func (q *audioQueue) SetMuted(m bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.muted = m
	if m {
		q.buf, q.primed = q.buf[:0], false
	}
}

// addTo adds up to len(acc)/AudioChannels samples per channel to acc. An
// underrun leaves the rest silent and primes the queue again.
func (q *audioQueue) addTo(acc []int32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.muted || !q.primed {
		return
	}
	n := min(len(acc), len(q.buf))
	for i := range n {
		acc[i] += int32(q.buf[i])
	}
	q.buf = append(q.buf[:0], q.buf[n:]...)
	if n < len(acc) {
		q.primed = false
	}
}

// Mixer sums its participants' audio.
type Mixer struct {
	mu     sync.Mutex
	queues map[string]*audioQueue
	acc    []int32
}

// NewMixer returns a mixer of no one.
func NewMixer() *Mixer { return &Mixer{queues: map[string]*audioQueue{}} }

// Queue returns the queue of participant id, making it if new.
func (m *Mixer) Queue(id string) *audioQueue {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[id]
	if !ok {
		q = &audioQueue{}
		m.queues[id] = q
	}
	return q
}

// Remove drops participant id's queue.
func (m *Mixer) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.queues, id)
}

// Mix returns n samples per channel of everyone's audio summed, clipped to
// 16 bits, as s16le.
func (m *Mixer) Mix(n int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cap(m.acc) < n*AudioChannels {
		m.acc = make([]int32, n*AudioChannels)
	}
	acc := m.acc[:n*AudioChannels]
	clear(acc)
	for _, q := range m.queues {
		q.addTo(acc)
	}
	out := make([]byte, 2*len(acc))
	for i, v := range acc {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(max(min(v, 32767), -32768))))
	}
	return out
}
