// Package transcode gives live streams what ffmpeg makes from them, as
// live consumers: the ABR ladder of STANDARD channels (renditions back
// into hubs of their own) and thumbnails. Running ffmpeg is package
// ffmpeg's.
package transcode

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Rung is one transcoded rendition of a ladder.
type Rung struct {
	Name    string // as IVS names renditions in recordings: "480p30"
	Width   int
	Height  int
	FPS     int
	Bitrate int // bits per second
}

// rungSpec is a rendition a channel type offers, before it is fitted to
// the input.
type rungSpec struct {
	height, maxFPS, bitrate int
}

// standardRungs are IVS STANDARD's renditions below the source (IVS
// documents 720p, 480p, 360p and 160p for its ABR ladder). A preset for
// ADVANCED_SD/HD is another list of these.
var standardRungs = []rungSpec{
	{720, 60, 3_000_000},
	{480, 30, 1_500_000},
	{360, 30, 800_000},
	{160, 30, 250_000},
}

// ladderFor fits a channel type's renditions to an input: only heights
// below the input's (the source is the top rendition; nothing is
// upscaled), frame rates capped at the input's, widths kept to the input's
// aspect ratio and even.
func ladderFor(specs []rungSpec, width, height int, fps float64) []Rung {
	if fps <= 0 {
		fps = 30
	}
	var out []Rung
	for _, s := range specs {
		if s.height >= height {
			continue
		}
		w := int(math.Round(float64(width)*float64(s.height)/float64(height)/2)) * 2
		f := min(s.maxFPS, int(math.Round(fps)))
		out = append(out, Rung{Name: fmt.Sprintf("%dp%d", s.height, f), Width: w, Height: s.height, FPS: f, Bitrate: s.bitrate})
	}
	return out
}

// ladderArgs is one ffmpeg for a whole ladder: one decode, a split, one
// scale and one x264 encode per rung (veryfast, zerolatency, no B-frames),
// a keyframe wherever the source has one so that segments and parts line
// up across renditions, every frame keeping its media time. All renditions
// leave in one MPEG-TS, one PID each, in the order of rungs.
func ladderArgs(rungs []Rung, srcFPS int) []string {
	var filter strings.Builder
	fmt.Fprintf(&filter, "[0:v]split=%d", len(rungs))
	for i := range rungs {
		fmt.Fprintf(&filter, "[s%d]", i)
	}
	for i, r := range rungs {
		fmt.Fprintf(&filter, ";[s%d]scale=%d:%d", i, r.Width, r.Height)
		if r.FPS < srcFPS {
			fmt.Fprintf(&filter, ",fps=%d", r.FPS)
		}
		fmt.Fprintf(&filter, "[o%d]", i)
	}
	args := append(ffmpeg.LowDelay(), "-copyts", "-f", "mpegts", "-i", "pipe:0",
		"-filter_complex", filter.String())
	for i := range rungs {
		args = append(args, "-map", fmt.Sprintf("[o%d]", i))
	}
	args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main",
		"-pix_fmt", "yuv420p", "-bf", "0", "-force_key_frames", "source", "-fps_mode", "passthrough")
	for i, r := range rungs {
		n := strconv.Itoa(i)
		b := strconv.Itoa(r.Bitrate)
		args = append(args, "-b:v:"+n, b, "-maxrate:v:"+n, strconv.Itoa(r.Bitrate*6/5), "-bufsize:v:"+n, b,
			"-r:v:"+n, strconv.Itoa(r.FPS))
	}
	return append(args, "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "pipe:1")
}

// Renditions serves a transcoded rendition beside its stream's source;
// *hls.Server implements it.
type Renditions interface {
	AddRendition(st *live.Stream, name string, hub *stream.Hub) (remove func())
}

// Emitter stores and publishes an event; *ivs.Service implements it.
type Emitter interface {
	Emit(ctx context.Context, e ivs.Event) (ivs.Event, error)
}

// LadderConfig holds the dependencies of Ladders.
type LadderConfig struct {
	Renditions Renditions
	Events     Emitter
	Log        *slog.Logger
}

// Ladders is the live.Consumer that gives STANDARD channels their ABR
// ladder: one ffmpeg per live stream, restarted with backoff if it dies,
// rebuilt when the input's resolution changes. The source never waits on
// it: the ladder reads the hub like any reader and ffmpeg is fed through
// a bounded queue.
type Ladders struct {
	cfg LadderConfig
	log *slog.Logger
}

var _ live.Consumer = (*Ladders)(nil)

// NewLadders returns the ladder consumer.
func NewLadders(cfg LadderConfig) *Ladders {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Ladders{cfg: cfg, log: cfg.Log.With("component", "transcode")}
}

// ladderQueue bounds the source frames waiting for ffmpeg: ~4 s at 30 fps.
const ladderQueue = 128

// Attach implements live.Consumer. Without ffmpeg a STANDARD channel
// plays its source only, which the error's Transcode Unavailable event says.
func (l *Ladders) Attach(st *live.Stream) (detach func(), err error) {
	if st.Channel.Type != ivs.TypeStandard {
		return nil, nil
	}
	var video, audio *stream.Track
	for _, t := range st.Hub.Tracks() {
		switch t.Codec.(type) {
		case *stream.H264:
			if video == nil {
				video = t
			}
		case *stream.AAC:
			if audio == nil {
				audio = t
			}
		}
	}
	log := l.log.With("channel", st.Channel.ARN, "stream_id", st.StreamID)
	if video == nil {
		log.Info("no ladder: the stream has no H.264 video")
		return nil, nil
	}
	if _, err := ffmpeg.Path(); err != nil {
		return nil, &live.Failure{Event: healthEvent(st, ivs.EventTranscodeUnavailable, err.Error()),
			Err: fmt.Errorf("transcode: no ladder, the STANDARD channel plays its source only: %w", err)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := st.NewReader("transcode", st.Hub, 1024)
	done := make(chan struct{})
	lr := &ladderRun{l: l, st: st, video: video, audio: audio, log: log}
	go func() {
		defer close(done)
		lr.run(ctx, r)
	}()
	return func() {
		cancel()
		r.Close()
		<-done
	}, nil
}

// healthEvent is an IVS Stream Health Change of st named name.
func healthEvent(st *live.Stream, name, reason string) ivs.Event {
	e := ivs.ChannelEvent(ivs.EventTypeStreamHealth, st.Channel, st.StreamID, time.Now())
	e.Detail.EventName, e.Detail.Reason = name, reason
	return e
}

func (l *Ladders) emit(st *live.Stream, name, reason string) {
	if l.cfg.Events == nil {
		return
	}
	e := healthEvent(st, name, reason)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.cfg.Events.Emit(ctx, e); err != nil {
		l.log.Error("emit event", "name", name, "err", err)
	}
}

// ladderRun is the ladder of one live stream.
type ladderRun struct {
	l            *Ladders
	st           *live.Stream
	video, audio *stream.Track
	log          *slog.Logger

	audioMu  sync.Mutex
	audioBuf []*stream.Unit // recent source audio, for the renditions to take in step
	audioSeq int64          // sequence number of audioBuf[0]

	received receivedTimes // of the source's video frames, for the renditions'
}

// receivedTimes remembers when recent source video frames were received,
// by media time, so that a rendition's frame carries its source frame's
// receive time (stream.Unit.NTP) rather than the time ffmpeg gave it
// back: what players measure latency from (HLS's segment metadata and
// program date-time) then includes the transcoding.
type receivedTimes struct {
	mu     sync.Mutex
	frames []receivedAt // in decode order
}

type receivedAt struct {
	pts time.Duration
	ntp time.Time
}

// maxReceived is the source frames remembered: more than the ladder's
// queue and what ffmpeg holds (a few frames with zerolatency), up to
// twice that between trims.
const maxReceived = 2 * ladderQueue

func (r *receivedTimes) add(pts time.Duration, ntp time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, receivedAt{pts, ntp})
	if len(r.frames) >= 2*maxReceived { // trim in halves, as audioBuf
		r.frames = append(r.frames[:0:0], r.frames[len(r.frames)-maxReceived:]...)
	}
}

// at returns when the source frame of media time pts was received: that
// frame's time, or, for a time between frames (a rendition of a lower
// frame rate) or past those remembered, the nearest frame's shifted by the
// difference. now when nothing is remembered.
func (r *receivedTimes) at(pts time.Duration, now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	var bestD time.Duration
	for i := len(r.frames) - 1; i >= 0; i-- {
		d := r.frames[i].pts - pts
		if d == 0 {
			return r.frames[i].ntp
		}
		if best < 0 || d.Abs() < bestD {
			best, bestD = i, d.Abs()
		}
	}
	if best < 0 {
		return now
	}
	return r.frames[best].ntp.Add(pts - r.frames[best].pts)
}

// maxAudioBuf is the audio kept for renditions: ~10 s of AAC (up to twice
// that between trims).
const maxAudioBuf = 500

// A gap (the ladder fell a queue behind and resumed at a keyframe) needs
// nothing: ffmpeg decodes on from the keyframe, and the renditions keep the
// source's media times, so they stay aligned with it.
func (lr *ladderRun) run(ctx context.Context, r *live.Reader) {
	var conv *ffmpeg.Converter
	defer func() {
		if conv != nil {
			conv.Close()
		}
	}()
	var width, height int
	for {
		u, err := r.Read(ctx)
		if err != nil {
			return
		}
		switch u.Track {
		case lr.audio:
			lr.audioMu.Lock()
			lr.audioBuf = append(lr.audioBuf, u)
			// Trim in halves, not per frame: one copy every maxAudioBuf
			// frames rather than one per audio frame once full.
			if len(lr.audioBuf) >= 2*maxAudioBuf {
				drop := len(lr.audioBuf) - maxAudioBuf
				lr.audioBuf = append(lr.audioBuf[:0:0], lr.audioBuf[drop:]...)
				lr.audioSeq += int64(drop)
			}
			lr.audioMu.Unlock()
		case lr.video:
			if u.RandomAccess {
				if w, h, fps, ok := spsOf(u.Payload, lr.video); ok && (w != width || h != height) {
					// A new input size (or the first): a new ladder.
					if conv != nil {
						lr.log.Info("input resolution changed: rebuilding the ladder", "from", fmt.Sprintf("%dx%d", width, height),
							"to", fmt.Sprintf("%dx%d", w, h))
						conv.Close()
						conv = nil
					}
					width, height = w, h
					conv = lr.start(ctx, w, h, fps)
				}
			}
			if conv != nil {
				lr.received.add(u.PTS, u.NTP)
				conv.Write(ffmpeg.Frame{PTS: u.PTS, DTS: u.DTS, NALUs: u.Payload})
			}
		}
	}
}

// spsOf reads the picture size and frame rate of a keyframe's SPS (or the
// track's, when the keyframe carries none).
func spsOf(au [][]byte, t *stream.Track) (w, h int, fps float64, ok bool) {
	raw := t.Codec.(*stream.H264).SPS
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			raw = n
			break
		}
	}
	var sps h264.SPS
	if err := sps.Unmarshal(raw); err != nil {
		return 0, 0, 0, false
	}
	return sps.Width(), sps.Height(), sps.FPS(), true
}

// start runs the ladder's ffmpeg for an input of w×h; nil when the input
// is too small for any rendition.
func (lr *ladderRun) start(ctx context.Context, w, h int, fps float64) *ffmpeg.Converter {
	rungs := ladderFor(standardRungs, w, h, fps)
	if len(rungs) == 0 {
		lr.log.Info("no ladder: the input is at or below the lowest rendition", "size", fmt.Sprintf("%dx%d", w, h))
		return nil
	}
	srcFPS := int(math.Round(fps))
	if srcFPS <= 0 {
		srcFPS = 30
	}
	names := make([]string, len(rungs))
	for i, r := range rungs {
		names[i] = r.Name
	}
	enc := func(out io.Writer) (func(ffmpeg.Frame) error, error) {
		vt := &mpegts.Track{Codec: &tscodecs.H264{}}
		mw := &mpegts.Writer{W: out, Tracks: []*mpegts.Track{vt}}
		if err := mw.Initialize(); err != nil {
			return nil, err
		}
		return func(f ffmpeg.Frame) error {
			return mw.WriteH264(vt, ticks90k(f.PTS), ticks90k(f.DTS), f.NALUs)
		}, nil
	}
	conv, err := ffmpeg.Start(ctx, ffmpeg.Config{Name: "ladder", Args: ladderArgs(rungs, srcFPS), Encode: enc,
		Decode: func(in *bufio.Reader) error { return lr.demux(in, rungs) }, Queue: ladderQueue, Log: lr.log,
		OnRestart: func(err error) {
			lr.l.emit(lr.st, ivs.EventTranscodeFailure, "the ladder's ffmpeg ended and is restarted: "+shortErr(err))
		}})
	if err != nil {
		lr.log.Warn("no ladder", "err", err)
		lr.l.emit(lr.st, ivs.EventTranscodeUnavailable, err.Error())
		return nil
	}
	lr.log.Info("ladder started", "renditions", strings.Join(names, ","), "input", fmt.Sprintf("%dx%d@%d", w, h, srcFPS))
	return conv
}

func ticks90k(d time.Duration) int64 { return int64(d) * 90000 / int64(time.Second) }

func shortErr(err error) string {
	if err == nil {
		return "exit"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// rendition is one rung's output while one ffmpeg runs.
type rendition struct {
	rung      Rung
	fixer     *stream.H264Fixer
	hub       *stream.Hub
	video     *stream.Track
	audio     *stream.Track
	remove    func()
	nextAudio int64 // sequence number of the next source audio unit to write
	clock     ffmpeg.TSClock
}

// demux reads ffmpeg's MPEG-TS: each PID is a rung; a rung's hub starts
// with its first keyframe and is served until this ffmpeg ends.
func (lr *ladderRun) demux(in io.Reader, rungs []Rung) error {
	tr := &mpegts.Reader{R: in}
	if err := tr.Initialize(); err != nil {
		return fmt.Errorf("transcode: ladder output: %w", err)
	}
	var rs []*rendition
	defer func() {
		for _, r := range rs {
			if r.hub != nil {
				r.remove()
				r.hub.Close()
			}
		}
	}()
	i := 0
	for _, t := range tr.Tracks() {
		if _, ok := t.Codec.(*tscodecs.H264); !ok || i >= len(rungs) {
			continue
		}
		r := &rendition{rung: rungs[i], fixer: stream.NewH264Fixer(nil, nil)}
		rs = append(rs, r)
		i++
		tr.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
			lr.writeRendition(r, pts, dts, au)
			return nil
		})
	}
	for {
		if err := tr.Read(); err != nil {
			return err
		}
	}
}

func (lr *ladderRun) writeRendition(r *rendition, pts, dts int64, au [][]byte) {
	au, ok := r.fixer.Fix(au)
	if !ok {
		return
	}
	// Media times come back as they went in (-copyts), in 33 bits.
	p, d := r.clock.Times(pts, dts)
	idr := h264.IsRandomAccess(au)
	if r.hub == nil {
		sps, pps := r.fixer.Params()
		if !idr || sps == nil || pps == nil {
			return
		}
		r.video = &stream.Track{Codec: &stream.H264{SPS: sps, PPS: pps}, ClockRate: 90000, Derived: true}
		tracks := []*stream.Track{r.video}
		if lr.audio != nil {
			r.audio = &stream.Track{Codec: lr.audio.Codec, ClockRate: lr.audio.ClockRate, Derived: true}
			tracks = append(tracks, r.audio)
		}
		r.hub = stream.NewHub(tracks)
		r.remove = lr.l.cfg.Renditions.AddRendition(lr.st, r.rung.Name, r.hub)
		r.nextAudio = -1
	}
	r.hub.Write(&stream.Unit{Track: r.video, PTS: p, DTS: d, NTP: lr.received.at(p, time.Now()), Payload: au, RandomAccess: idr})
	lr.feedAudio(r, p)
}

// feedAudio writes the source's audio up to media time upTo into a
// rendition, so its audio keeps step with its (later) video.
func (lr *ladderRun) feedAudio(r *rendition, upTo time.Duration) {
	if r.audio == nil {
		return
	}
	lr.audioMu.Lock()
	defer lr.audioMu.Unlock()
	i := 0
	if r.nextAudio < 0 {
		// Start with the audio of the rendition's first picture.
		for i < len(lr.audioBuf) && lr.audioBuf[i].PTS < upTo {
			i++
		}
	} else if r.nextAudio > lr.audioSeq {
		i = int(r.nextAudio - lr.audioSeq)
	}
	for ; i < len(lr.audioBuf) && lr.audioBuf[i].PTS <= upTo; i++ {
		u := lr.audioBuf[i]
		r.hub.Write(&stream.Unit{Track: r.audio, PTS: u.PTS, DTS: u.DTS, NTP: u.NTP, Payload: u.Payload})
	}
	r.nextAudio = lr.audioSeq + int64(i)
}
