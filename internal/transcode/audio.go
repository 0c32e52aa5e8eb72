// Package transcode runs ffmpeg for what onair does not encode itself: audio
// conversion between the codecs of WebRTC (Opus) and HLS (AAC), and later
// the STANDARD channels' ladders. Each conversion is one ffmpeg process fed
// through a pipe; the hub's data path never waits for it.
package transcode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// ErrNoFFmpeg is returned when the ffmpeg program is not installed.
var ErrNoFFmpeg = errors.New("transcode: ffmpeg not found (install it: apt-get install ffmpeg)")

// FFmpeg returns the path of the ffmpeg program, or ErrNoFFmpeg.
func FFmpeg() (string, error) {
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", ErrNoFFmpeg
	}
	return p, nil
}

// queueFrames bounds the frames waiting for ffmpeg's stdin: 2 s of 20 ms
// frames. A stalled ffmpeg loses audio, never holds up the stream.
const queueFrames = 100

// lowDelay are the input flags that make ffmpeg start on the first bytes
// instead of probing seconds of input. Audio converters add -fflags
// nobuffer (one AAC frame, 23 ms, less delay); video must not: it drops
// the packets read while probing, a VP8 stream's first keyframe.
var lowDelay = []string{"-hide_banner", "-loglevel", "error", "-nostdin",
	"-fflags", "+flush_packets", "-flags", "low_delay", "-probesize", "32", "-analyzeduration", "0"}

func audioInput() []string {
	return append(append([]string{}, lowDelay...), "-fflags", "+nobuffer+flush_packets")
}

// Frame is a frame in or out of a converter, with its media time: an audio
// frame or a VP8 frame in Data, or an H.264 access unit in NALUs (with DTS).
type Frame struct {
	PTS   time.Duration
	DTS   time.Duration
	Data  []byte
	NALUs [][]byte
}

// Converter is one ffmpeg re-encoding a stream. Write hands it input
// frames; converted frames go to the out function given at start, from one
// goroutine, in order. If ffmpeg dies it is started again with backoff
// (1 s doubling to 30 s); frames that come meanwhile are dropped.
type Converter struct {
	name   string
	log    *slog.Logger
	bin    string
	args   []string
	enc    func(w io.Writer) (func(Frame) error, error)
	dec    func(r io.Reader) error
	in     chan Frame
	cancel context.CancelFunc
	done   chan struct{}
	pid    atomic.Int64

	dropped  atomic.Int64
	restarts atomic.Int64
	// onRestart, if set, hears of every death of ffmpeg that a restart
	// follows.
	onRestart func(err error)
}

const (
	restartMin = time.Second
	restartMax = 30 * time.Second
)

// start runs ffmpeg with args under a supervisor: per run, a writer
// goroutine encodes queued frames into its stdin with enc, and dec decodes
// its stdout. enc and dec are called afresh for every run.
func start(ctx context.Context, name string, log *slog.Logger, args []string,
	enc func(w io.Writer) (func(Frame) error, error), dec func(r io.Reader) error,
) (*Converter, error) {
	return startWith(ctx, name, log, args, enc, dec, nil, queueFrames)
}

// startWith is start with a restart hook and an input queue of queue frames.
func startWith(ctx context.Context, name string, log *slog.Logger, args []string,
	enc func(w io.Writer) (func(Frame) error, error), dec func(r io.Reader) error,
	onRestart func(error), queue int,
) (*Converter, error) {
	bin, err := FFmpeg()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Converter{name: name, log: log.With("converter", name), bin: bin, args: args, enc: enc, dec: dec,
		in: make(chan Frame, queue), cancel: cancel, done: make(chan struct{}), onRestart: onRestart}
	started := make(chan error, 1)
	go c.supervise(ctx, started)
	if err := <-started; err != nil {
		cancel()
		<-c.done
		return nil, err
	}
	return c, nil
}

func (c *Converter) supervise(ctx context.Context, started chan<- error) {
	defer close(c.done)
	backoff := restartMin
	for first := true; ; first = false {
		t0 := time.Now()
		startErr := false
		err := c.run(ctx, func(err error) {
			startErr = err != nil
			if first {
				started <- err
			}
		})
		if ctx.Err() != nil || (first && startErr) {
			return // closed, or ffmpeg could not start at all: start says so
		}
		if time.Since(t0) > time.Minute {
			backoff = restartMin // it ran a good while: a fresh failure
		}
		c.restarts.Add(1)
		c.log.Warn("converter ended, restarting", "err", err, "in", backoff)
		if c.onRestart != nil {
			c.onRestart(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartMax)
	}
}

// run is one ffmpeg process; ready reports whether it started.
func (c *Converter) run(ctx context.Context, ready func(error)) error {
	cmd := exec.CommandContext(ctx, c.bin, c.args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		ready(err)
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		ready(err)
		return err
	}
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("transcode: start ffmpeg: %w", err)
		ready(err)
		return err
	}
	c.pid.Store(int64(cmd.Process.Pid))
	c.log.Debug("converter started", "pid", cmd.Process.Pid)
	ready(nil)

	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stdin.Close()
		bw := bufio.NewWriter(stdin)
		write, err := c.enc(bw)
		if err != nil {
			c.log.Warn("converter input", "err", err)
			return
		}
		for {
			select {
			case <-rctx.Done():
				return
			case f := <-c.in:
				if err := write(f); err != nil {
					return
				}
				// Flush unless more is queued: one write per burst.
				if len(c.in) == 0 {
					if err := bw.Flush(); err != nil {
						return
					}
				}
			}
		}
	}()
	derr := c.dec(bufio.NewReaderSize(stdout, 8192))
	stop() // the writer goes when the reader does
	_ = stdin.Close()
	werr := cmd.Wait()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%w (stderr: %s)", errors.Join(derr, werr), stderr.String())
}

// Write queues a frame for conversion; when ffmpeg falls 2 s behind (or
// is being restarted), the frame is dropped.
func (c *Converter) Write(f Frame) {
	select {
	case c.in <- f:
	default:
		if n := c.dropped.Add(1); n == 1 || n%500 == 0 {
			c.log.Warn("converter behind, frames dropped", "dropped", n)
		}
	}
}

// Close stops ffmpeg and waits for the goroutines.
func (c *Converter) Close() {
	c.cancel()
	<-c.done
}

// PID is the current ffmpeg's process id, for tests and metrics.
func (c *Converter) PID() int { return int(c.pid.Load()) }

// Restarts counts how often ffmpeg was started again after it died.
func (c *Converter) Restarts() int { return int(c.restarts.Load()) }

// sendFirst hands a run's first input time to its decoder, replacing one a
// dead run left unread.
func sendFirst(ch chan time.Duration, d time.Duration) {
	select {
	case <-ch:
	default:
	}
	ch <- d
}

// AACToOpus converts AAC frames (raw access units of the given config) to
// 48 kHz Opus packets of 20 ms, as WebRTC plays. out receives each packet
// with its media time: that of the first input frame plus the samples made.
func AACToOpus(ctx context.Context, cfg *mpeg4audio.AudioSpecificConfig, log *slog.Logger, out func(Frame)) (*Converter, error) {
	ch := min(max(cfg.ChannelCount, 1), 2)
	args := append(audioInput(), "-f", "aac", "-i", "pipe:0",
		"-c:a", "libopus", "-application", "lowdelay", "-frame_duration", "20", "-b:a", "128k",
		"-ar", "48000", "-ac", strconv.Itoa(ch),
		"-f", "ogg", "-page_duration", "20000", "-flush_packets", "1", "pipe:1")
	firstCh := make(chan time.Duration, 1)
	enc := func(w io.Writer) (func(Frame) error, error) {
		started := false
		return func(f Frame) error {
			if !started {
				started = true
				sendFirst(firstCh, f.PTS)
			}
			pkts := mpeg4audio.ADTSPackets{{Type: cfg.Type, SampleRate: cfg.SampleRate, ChannelCount: cfg.ChannelCount, AU: f.Data}}
			b, err := pkts.Marshal()
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		}, nil
	}
	dec := func(r io.Reader) error {
		or, head, err := oggreader.NewWith(r)
		if err != nil {
			return fmt.Errorf("ogg header: %w", err)
		}
		var start time.Duration
		haveStart := false
		var samples int64 = -int64(head.PreSkip)
		for {
			page, _, err := or.ParseNextPage()
			if err != nil {
				return err
			}
			if len(page) >= 8 && string(page[:8]) == "OpusTags" {
				continue
			}
			d := opus.PacketDuration2(page)
			if d == 0 {
				continue
			}
			if !haveStart {
				start, haveStart = <-firstCh, true // output implies input: its time is known
			}
			// The first packet starts pre-skip samples before the input.
			pts := start + time.Duration(samples)*time.Second/48000
			samples += d
			out(Frame{PTS: pts, Data: page})
		}
	}
	return start(ctx, "aac-to-opus", log, args, enc, dec)
}

// OpusToAAC converts Opus packets to AAC-LC at 48 kHz with the returned
// config, as HLS players (Safari's above all) play. out receives each AAC
// access unit with its media time.
func OpusToAAC(ctx context.Context, channels int, log *slog.Logger, out func(Frame)) (*Converter, *mpeg4audio.AudioSpecificConfig, error) {
	ch := min(max(channels, 1), 2)
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: ch}
	args := append(audioInput(), "-f", "ogg", "-i", "pipe:0",
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", strconv.Itoa(ch),
		"-f", "adts", "-flush_packets", "1", "pipe:1")
	firstCh := make(chan time.Duration, 1)
	enc := func(w io.Writer) (func(Frame) error, error) {
		ow, err := oggwriter.NewWith(w, 48000, uint16(ch))
		if err != nil {
			return nil, err
		}
		var first time.Duration
		var seq uint16
		started := false
		return func(f Frame) error {
			if !started {
				first, started = f.PTS, true
				sendFirst(firstCh, f.PTS)
			}
			seq++
			ts := uint32((f.PTS - first) * 48000 / time.Second)
			return ow.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: f.Data})
		}, nil
	}
	dec := func(r io.Reader) error {
		br := r.(*bufio.Reader)
		var start time.Duration
		var n int64
		for {
			au, err := readADTS(br)
			if err != nil {
				return err
			}
			if n == 0 {
				start = <-firstCh // output implies input: the first frame's time is known
			}
			pts := start + time.Duration(n*1024)*time.Second/48000
			n++
			out(Frame{PTS: pts, Data: au})
		}
	}
	c, err := start(ctx, "opus-to-aac", log, args, enc, dec)
	return c, cfg, err
}

// readADTS reads one ADTS frame and returns its access unit.
func readADTS(r *bufio.Reader) ([]byte, error) {
	hdr, err := r.Peek(7)
	if err != nil {
		return nil, err
	}
	if hdr[0] != 0xFF || hdr[1]&0xF0 != 0xF0 {
		return nil, errors.New("transcode: lost ADTS sync")
	}
	size := int(hdr[3]&0x03)<<11 | int(hdr[4])<<3 | int(hdr[5])>>5
	if size < 7 {
		return nil, errors.New("transcode: bad ADTS frame length")
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("transcode: ADTS: %w", err)
	}
	if len(pkts) != 1 {
		return nil, errors.New("transcode: ADTS frame with several access units")
	}
	return pkts[0].AU, nil
}

// tailBuffer keeps the last bytes ffmpeg wrote to stderr, for the log.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
