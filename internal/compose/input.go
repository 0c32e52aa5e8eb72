package compose

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/onair-video/onair/internal/ffmpeg"
)

// keyframeAskEvery bounds how often one input asks its publisher for a
// keyframe (the SFU rate-limits too).
const keyframeAskEvery = 300 * time.Millisecond

// input is one publishing participant in a composition: its tap, its
// video decoder (for its tile's size and fill) and its audio decoder
// feeding the mixer.
type input struct {
	id  string
	log *slog.Logger
	// kick tells the run that the input's source size changed or its tap
	// ended (both change what the run must do).
	kick func()

	pub   Publisher // latest, owned by the run goroutine
	layer string    // the simulcast layer the tap is pinned to, owned by the run goroutine

	tapMu sync.Mutex
	tap   Tap

	// vmu guards the video path: the tap's video goroutine against the run
	// goroutine swapping decoders.
	vmu         sync.Mutex
	codec       VideoCodec
	asm         *assembler
	dec         *ffmpeg.Converter
	decW, decH  int
	decFill     FillMode
	decNeedsKey bool
	srcW, srcH  int
	lastAsk     time.Time
	tsHi        int64 // unwrapped RTP time
	tsLast      uint32
	tsStarted   bool
	tsResync    bool // a new tap: its first frame follows the last one

	amu  sync.Mutex
	adec *ffmpeg.Converter
	aq   *audioQueue

	// pmu guards the last decoded picture.
	pmu     sync.Mutex
	picture *Picture
}

// setTap installs a tap (or nil).
func (in *input) setTap(t Tap) {
	in.tapMu.Lock()
	in.tap = t
	in.tapMu.Unlock()
}

func (in *input) currentTap() Tap {
	in.tapMu.Lock()
	defer in.tapMu.Unlock()
	return in.tap
}

// askKeyframe asks the publisher for a keyframe, at most every
// keyframeAskEvery. Called under vmu.
func (in *input) askKeyframe() {
	if time.Since(in.lastAsk) < keyframeAskEvery {
		return
	}
	in.lastAsk = time.Now()
	if t := in.currentTap(); t != nil {
		t.RequestKeyframe()
	}
}

// retap readies the video path for a new tap of codec c (0: no video):
// a fresh assembler that waits for a keyframe, a decoder that does too
// (one of another codec is replaced at the next fit), and media times
// that go on from where the last tap's ended.
func (in *input) retap(c VideoCodec) {
	in.vmu.Lock()
	defer in.vmu.Unlock()
	if c == 0 {
		in.asm = nil
		return
	}
	if in.codec != c && in.dec != nil {
		in.decW = 0 // not the decoder this codec needs
	}
	in.codec, in.asm, in.decNeedsKey, in.tsResync = c, newAssembler(c), true, true
}

// onVideo is the tap's video callback.
func (in *input) onVideo(h *rtp.Header, payload []byte) {
	in.vmu.Lock()
	defer in.vmu.Unlock()
	if in.asm == nil {
		return
	}
	f, lost := in.asm.push(h, payload)
	if lost || (f == nil && in.asm.needKey) {
		in.askKeyframe()
	}
	if f == nil {
		return
	}
	if f.w > 0 && f.h > 0 && (f.w != in.srcW || f.h != in.srcH) {
		in.srcW, in.srcH = f.w, f.h
		in.kick()
	}
	if in.dec == nil {
		return
	}
	if in.decNeedsKey {
		if !f.keyframe {
			in.askKeyframe()
			return
		}
		in.decNeedsKey = false
	}
	if !in.dec.TryWrite(ffmpeg.Frame{PTS: in.mediaTime(f.ts), Data: f.data}) {
		// The decoder is a queue behind: what it gets next must be a
		// keyframe, and a short queue keeps the delay that piles up short.
		in.decNeedsKey = true
		in.askKeyframe()
	}
}

// mediaTime unwraps RTP timestamps into a time from the first frame.
func (in *input) mediaTime(ts uint32) time.Duration {
	if !in.tsStarted {
		in.tsStarted, in.tsLast = true, ts
	}
	if in.tsResync {
		in.tsResync, in.tsLast = false, ts-3000 // a frame at 30 fps after the last
	}
	in.tsHi += int64(int32(ts - in.tsLast))
	in.tsLast = ts
	return time.Duration(in.tsHi) * time.Second / 90000
}

// onAudio is the tap's audio callback: Opus packets to the decoder.
func (in *input) onAudio(h *rtp.Header, payload []byte) {
	in.amu.Lock()
	defer in.amu.Unlock()
	if in.adec == nil {
		return
	}
	in.adec.Write(ffmpeg.Frame{PTS: time.Duration(h.Timestamp) * time.Second / SampleRate, Data: append([]byte(nil), payload...)})
}

// sourceSize is the size of the input's video as its last keyframe said.
func (in *input) sourceSize() (int, int) {
	in.vmu.Lock()
	defer in.vmu.Unlock()
	return in.srcW, in.srcH
}

// setPicture keeps a copy of a decoded picture (called on the decoder's
// goroutine; p is the decoder's buffer).
func (in *input) setPicture(p *Picture) {
	in.pmu.Lock()
	defer in.pmu.Unlock()
	if in.picture == nil || in.picture.W != p.W || in.picture.H != p.H {
		in.picture = &Picture{W: p.W, H: p.H, Data: make([]byte, len(p.Data))}
	}
	copy(in.picture.Data, p.Data)
}

// drawInto draws the input's last picture into tile t of canvas.
func (in *input) drawInto(canvas *Picture, t Tile) {
	in.pmu.Lock()
	defer in.pmu.Unlock()
	canvas.Draw(in.picture, t.X, t.Y, t.W, t.H)
}

// fitDecoder makes the video decoder produce pictures for tile t (w x h,
// fill); a decoder of another size is replaced, and the new one waits for
// a keyframe, which is asked for. The old picture stays on screen
// (scaled) until the new decoder makes one. w == 0 stops decoding (the
// participant has no tile).
func (in *input) fitDecoder(ctx context.Context, w, h int, fill FillMode, wg *sync.WaitGroup) error {
	in.vmu.Lock()
	same := in.dec != nil && in.decW == w && in.decH == h && in.decFill == fill
	idle := in.dec == nil && w == 0
	codec := in.codec
	in.vmu.Unlock()
	if same || idle {
		return nil
	}
	var dec *ffmpeg.Converter
	if w > 0 && codec != 0 {
		var err error
		dec, err = startVideoDecoder(ctx, codec, w, h, fill, in.log, in.setPicture, in.decoderRestarted)
		if err != nil {
			return err
		}
	}
	in.vmu.Lock()
	old := in.dec
	in.dec, in.decW, in.decH, in.decFill, in.decNeedsKey = dec, w, h, fill, true
	if dec == nil {
		in.decW, in.decH = 0, 0
	} else {
		in.lastAsk = time.Time{}
		in.askKeyframe()
	}
	in.vmu.Unlock()
	if old != nil {
		wg.Go(old.Close)
	}
	return nil
}

// decoderRestarted: a new ffmpeg decodes from the next keyframe on.
func (in *input) decoderRestarted(error) {
	in.vmu.Lock()
	defer in.vmu.Unlock()
	in.decNeedsKey = true
	in.lastAsk = time.Time{}
	in.askKeyframe()
}

// close ends the input's tap and decoders.
func (in *input) close() {
	if t := in.currentTap(); t != nil {
		t.Close()
	}
	in.vmu.Lock()
	dec := in.dec
	in.dec = nil
	in.vmu.Unlock()
	if dec != nil {
		dec.Close()
	}
	in.amu.Lock()
	adec := in.adec
	in.adec = nil
	in.amu.Unlock()
	if adec != nil {
		adec.Close()
	}
}
