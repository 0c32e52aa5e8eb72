package compose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/stream"
)

// VideoSpec is an encoder configuration's video.
type VideoSpec struct {
	Width, Height int
	FPS           float64
	Bitrate       int // bits per second
}

// keyframeEvery is the composite's keyframe interval: IVS's recommended
// 2 s, so that segments of the channel's HLS start on one.
const keyframeEvery = 2

// videoEncoderArgs encodes raw yuv420p canvases at the spec's rate with
// libx264 as the ladder does (veryfast, zerolatency, no B-frames, main
// profile), a keyframe every 2 s, into MPEG-TS.
func videoEncoderArgs(v VideoSpec) []string {
	gop := strconv.Itoa(max(int(math.Round(v.FPS*keyframeEvery)), 1))
	b := strconv.Itoa(v.Bitrate)
	return append(ffmpeg.LowDelay(), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", v.Width, v.Height),
		"-framerate", strconv.FormatFloat(v.FPS, 'f', -1, 64), "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main", "-pix_fmt", "yuv420p",
		"-bf", "0", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", b, "-maxrate", strconv.Itoa(v.Bitrate*6/5), "-bufsize", b, "-fps_mode", "passthrough",
		"-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "pipe:1")
}

// stamp is the media time and compose time of a canvas sent to ffmpeg.
type stamp struct {
	pts time.Duration
	at  time.Time
}

// stamps are the canvases one run of an encoder was given, in order: its
// output frames come out one for one (no B-frames, no frame dropped or
// added with passthrough), so each takes the next stamp.
type stamps struct {
	mu sync.Mutex
	q  []stamp
}

func (s *stamps) reset() { s.mu.Lock(); s.q = s.q[:0]; s.mu.Unlock() }
func (s *stamps) push(st stamp) {
	s.mu.Lock()
	s.q = append(s.q, st)
	s.mu.Unlock()
}

func (s *stamps) pop() (stamp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return stamp{}, false
	}
	st := s.q[0]
	s.q = s.q[1:]
	return st, true
}

// startVideoEncoder runs the encoder of one encoder configuration; out
// receives each access unit with its canvas's stamp.
func startVideoEncoder(ctx context.Context, v VideoSpec, log *slog.Logger, out func(st stamp, au [][]byte), pool *sync.Pool) (*ffmpeg.Converter, error) {
	var sts stamps
	enc := func(w io.Writer) (func(ffmpeg.Frame) error, error) {
		sts.reset() // a new run: what the dead one was given is lost
		return func(f ffmpeg.Frame) error {
			sts.push(stamp{f.PTS, time.Unix(0, int64(f.DTS))})
			_, err := w.Write(f.Data)
			if pool != nil {
				pool.Put(&f.Data)
			}
			return err
		}, nil
	}
	dec := func(r *bufio.Reader) error {
		tr := &mpegts.Reader{R: r}
		if err := tr.Initialize(); err != nil {
			return fmt.Errorf("compose: encoder output: %w", err)
		}
		for _, t := range tr.Tracks() {
			if _, ok := t.Codec.(*tscodecs.H264); ok {
				tr.OnDataH264(t, func(_, _ int64, au [][]byte) error {
					st, ok := sts.pop()
					if !ok {
						return errors.New("compose: the encoder made more frames than it was given")
					}
					out(st, au)
					return nil
				})
			}
		}
		for {
			if err := tr.Read(); err != nil {
				return err
			}
		}
	}
	// A queue of a few canvases: an encoder that falls behind loses
	// frames rather than the composite's delay growing.
	return ffmpeg.Start(ctx, ffmpeg.Config{Name: "compose-encode", Args: videoEncoderArgs(v), Encode: enc, Decode: dec, Queue: 4, Log: log})
}

// aacConfig is the composite's audio: AAC-LC, 48 kHz stereo.
var aacConfig = &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: SampleRate, ChannelConfig: AudioChannels}

// startAudioEncoder encodes the mix (s16le in ffmpeg.Frame.Data, with its
// media time in PTS) to AAC; out receives each access unit with its media
// time: the first input's plus the samples encoded.
func startAudioEncoder(ctx context.Context, log *slog.Logger, out func(pts time.Duration, au []byte)) (*ffmpeg.Converter, error) {
	args := append(ffmpeg.LowDelay(), "-fflags", "+nobuffer+flush_packets", "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", "pipe:0",
		"-c:a", "aac", "-b:a", "128k", "-f", "adts", "-flush_packets", "1", "pipe:1")
	first := make(chan time.Duration, 1)
	enc := func(w io.Writer) (func(ffmpeg.Frame) error, error) {
		started := false
		return func(f ffmpeg.Frame) error {
			if !started {
				started = true
				select { // a dead run's unread start gives way
				case <-first:
				default:
				}
				first <- f.PTS
			}
			_, err := w.Write(f.Data)
			return err
		}, nil
	}
	dec := func(r *bufio.Reader) error {
		var start time.Duration
		var n int64
		for {
			au, err := ffmpeg.ReadADTS(r)
			if err != nil {
				return err
			}
			if n == 0 {
				start = <-first // output implies input
			}
			out(start+time.Duration(n*1024)*time.Second/SampleRate, au)
			n++
		}
	}
	return ffmpeg.Start(ctx, ffmpeg.Config{Name: "compose-audio-encode", Args: args, Encode: enc, Decode: dec, Queue: 200, Log: log})
}

// Output is the composite of one encoder configuration as a unit stream:
// a hub that exists from the encoder's first keyframe on, with an H.264
// track and an AAC track, media times continuous from the composition's
// start. Destinations read it: the channel destination publishes it into
// its channel; an S3 writer can record it the same way.
type Output struct {
	Video VideoSpec

	mu    sync.Mutex
	hub   *stream.Hub
	video *stream.Track
	audio *stream.Track
	fixer *stream.H264Fixer
	ready chan struct{}
	// onReady is called once, before Ready is closed.
	onReady func()
	// waiting are readers asked for before the hub exists: they are made
	// with it, before its first unit, so they start at its first keyframe.
	waiting []subscription
}

type subscription struct {
	size int
	opt  stream.ReaderOption
	ch   chan *stream.Reader
}

// Subscribe returns where a reader of the composite's hub will come:
// one made before the hub's first unit if asked for before it exists
// (Ready), so that it starts at the composite's first keyframe, else one
// made now.
func (o *Output) Subscribe(size int, opt stream.ReaderOption) <-chan *stream.Reader {
	ch := make(chan *stream.Reader, 1)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.hub != nil {
		ch <- o.hub.NewReader(size, opt)
	} else {
		o.waiting = append(o.waiting, subscription{size, opt, ch})
	}
	return ch
}

func newOutput(v VideoSpec, onReady func()) *Output {
	return &Output{Video: v, fixer: stream.NewH264Fixer(nil, nil), ready: make(chan struct{}), onReady: onReady}
}

// Ready is closed once Hub is set.
func (o *Output) Ready() <-chan struct{} { return o.ready }

// Hub is the composite's hub; nil before Ready.
func (o *Output) Hub() *stream.Hub {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hub
}

func (o *Output) writeVideo(st stamp, au [][]byte) {
	au, ok := o.fixer.Fix(au)
	if !ok {
		return
	}
	idr := h264.IsRandomAccess(au)
	o.mu.Lock()
	if o.hub == nil {
		sps, pps := o.fixer.Params()
		if !idr || sps == nil || pps == nil {
			o.mu.Unlock()
			return
		}
		o.video = &stream.Track{Codec: &stream.H264{SPS: sps, PPS: pps}, ClockRate: 90000}
		o.audio = &stream.Track{Codec: &stream.AAC{Config: aacConfig}, ClockRate: SampleRate}
		o.hub = stream.NewHub([]*stream.Track{o.video, o.audio})
		for _, w := range o.waiting {
			w.ch <- o.hub.NewReader(w.size, w.opt)
		}
		o.waiting = nil
		o.mu.Unlock()
		if o.onReady != nil {
			o.onReady()
		}
		close(o.ready)
		o.mu.Lock()
	}
	hub, track := o.hub, o.video
	o.mu.Unlock()
	hub.Write(&stream.Unit{Track: track, PTS: st.pts, DTS: st.pts, NTP: st.at, Payload: au, RandomAccess: idr})
}

func (o *Output) writeAudio(pts time.Duration, au []byte) {
	o.mu.Lock()
	hub, track := o.hub, o.audio
	o.mu.Unlock()
	if hub == nil {
		return
	}
	hub.Write(&stream.Unit{Track: track, PTS: pts, DTS: pts, NTP: time.Now(), Payload: [][]byte{au}})
}

func (o *Output) close() {
	if h := o.Hub(); h != nil {
		h.Close()
	}
}
