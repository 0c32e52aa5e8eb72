package session

import (
	"math"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// historyLen is how many ticks the meter remembers for the sliding windows
// of health and limits.
const historyLen = 16

// sample is what the meter remembers of one tick.
type sample struct {
	at       time.Time
	videoDTS time.Duration // the newest video DTS received by then
	bits     int64         // video + audio bits received during the tick
}

// meter turns the units of one stream into one-second points. It is pure:
// the caller supplies the times, so tests drive it without a clock.
type meter struct {
	// Counters of the current tick.
	videoBytes, audioBytes int64
	frames                 int

	// Running state.
	lastUnit    time.Time
	videoDTS    time.Duration
	haveVideo   bool
	audioDTS    time.Duration
	haveAudio   bool
	lastKeyDTS  time.Duration
	haveKey     bool
	keyInterval float64

	prevTick time.Time
	tickDTS  time.Duration // videoDTS when the current tick began
	tickADTS time.Duration // audioDTS when the current tick began
	// tickVideo and tickAudio say whether those DTSs are real: the media
	// time of a tick is measured from the last frame before it, which the
	// first tick with media does not have.
	tickVideo, tickAudio bool
	history              []sample // oldest first, at most historyLen
}

func (m *meter) observe(u *stream.Unit, now time.Time) {
	if u.Track.Derived {
		return // not what the encoder sent
	}
	m.lastUnit = now
	if !u.Track.Codec.IsVideo() {
		m.audioBytes += int64(u.Size())
		if !m.haveAudio || u.DTS > m.audioDTS {
			m.audioDTS = u.DTS
		}
		m.haveAudio = true
		return
	}
	m.videoBytes += int64(u.Size())
	m.frames++
	if !m.haveVideo || u.DTS > m.videoDTS {
		m.videoDTS = u.DTS
	}
	m.haveVideo = true
	if u.RandomAccess {
		if m.haveKey && u.DTS > m.lastKeyDTS {
			m.keyInterval = math.Round((u.DTS-m.lastKeyDTS).Seconds()*100) / 100
		}
		m.lastKeyDTS, m.haveKey = u.DTS, true
	}
}

// start begins the first tick at now; what came before it is not counted,
// so that no point covers less than a whole second.
func (m *meter) start(now time.Time) {
	m.prevTick = now
	m.tickDTS, m.tickADTS, m.tickVideo, m.tickAudio = m.videoDTS, m.audioDTS, m.haveVideo, m.haveAudio
	m.videoBytes, m.audioBytes, m.frames = 0, 0, 0
}

// backlog reports whether the current tick, up to now, received media much
// faster than real time: a burst such as the seconds of media an RTMP
// server reads to learn the tracks before the stream goes live, which then
// reach the hub at once.
func (m *meter) backlog(now time.Time) bool {
	wall := now.Sub(m.prevTick).Seconds()
	return m.haveVideo && wall > 0 && (m.videoDTS-m.tickDTS).Seconds() > burstRatio*wall
}

// burstRatio is how much faster than real time a tick must be to be a burst.
const burstRatio = 1.5

// tick closes the tick that began at the previous tick and returns its
// point, stamped with its start.
//
// Rates are per second of the media that arrived in the tick, not per
// second of wall clock: an encoder or network that stalls for 300 ms and
// then catches up delivers 0.7 s of media in one second and 1.3 s in the
// next, and both seconds still show the encoder's 30 fps and its bit rate.
// Delivery itself is judged by health (speed). A tick that received less
// than half its length in media (a stall, a stop) is divided by the wall
// clock instead, so that starvation shows as a fall, never as a spike made
// of a few frames over a few milliseconds.
func (m *meter) tick(now time.Time, viewers int64) ivs.MetricPoint {
	wall := now.Sub(m.prevTick).Seconds()
	if wall <= 0 {
		wall = 1
	}
	per := func(known bool, media time.Duration) float64 {
		if s := media.Seconds(); known && s >= wall/2 {
			return s
		}
		return wall
	}
	vdiv, adiv := per(m.tickVideo, m.videoDTS-m.tickDTS), per(m.tickAudio, m.audioDTS-m.tickADTS)
	p := ivs.MetricPoint{
		Time:             m.prevTick.Truncate(time.Second).UTC(),
		Span:             1,
		VideoBitrate:     int64(math.Round(float64(m.videoBytes*8) / vdiv)),
		Framerate:        math.Round(float64(m.frames)/vdiv*100) / 100,
		AudioBitrate:     int64(math.Round(float64(m.audioBytes*8) / adiv)),
		KeyframeInterval: m.keyInterval,
		Viewers:          viewers,
	}
	m.history = append(m.history, sample{at: now, videoDTS: m.videoDTS, bits: (m.videoBytes + m.audioBytes) * 8})
	if len(m.history) > historyLen {
		m.history = m.history[1:]
	}
	m.prevTick = now
	m.tickDTS, m.tickADTS, m.tickVideo, m.tickAudio = m.videoDTS, m.audioDTS, m.haveVideo, m.haveAudio
	m.videoBytes, m.audioBytes, m.frames = 0, 0, 0
	return p
}

// speed is how much media time arrived per second of real time over the
// last n ticks: 1 for an encoder in real time, below 1 when it falls behind.
// ok is false until n ticks are known or before any video.
func (m *meter) speed(n int) (ratio float64, ok bool) {
	if !m.haveVideo || len(m.history) <= n {
		return 0, false
	}
	a, b := m.history[len(m.history)-1-n], m.history[len(m.history)-1]
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0, false
	}
	return (b.videoDTS - a.videoDTS).Seconds() / wall, true
}

// bitrate is the average input bit rate over the last n ticks; ok is false
// until n ticks are known.
func (m *meter) bitrate(n int) (bps int64, ok bool) {
	if len(m.history) < n+1 {
		return 0, false
	}
	var bits int64
	for _, s := range m.history[len(m.history)-n:] {
		bits += s.bits
	}
	wall := m.history[len(m.history)-1].at.Sub(m.history[len(m.history)-1-n].at).Seconds()
	if wall <= 0 {
		return 0, false
	}
	return int64(float64(bits) / wall), true
}
