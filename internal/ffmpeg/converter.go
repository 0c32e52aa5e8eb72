package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Frame is a frame in or out of a converter, with its media time: an audio
// frame or a VP8 frame in Data, or an H.264 access unit in NALUs (with DTS).
type Frame struct {
	PTS   time.Duration
	DTS   time.Duration
	Data  []byte
	NALUs [][]byte
}

// Config describes a converter: the ffmpeg it runs and how frames go in
// and out of it.
type Config struct {
	// Name names the converter in the log ("aac-to-opus").
	Name string
	// Args are ffmpeg's arguments; it reads pipe:0 and writes pipe:1.
	Args []string
	// Encode is called for every run of ffmpeg with its stdin, and returns
	// the function that writes one frame to it.
	Encode func(w io.Writer) (func(Frame) error, error)
	// Decode reads a run's stdout until it ends, handing on what it
	// decodes; it is called afresh for every run.
	Decode func(r *bufio.Reader) error
	// Queue bounds the frames waiting for ffmpeg's stdin; 0 means 100, 2 s
	// of 20 ms audio frames.
	Queue int
	// OnRestart, if set, hears of every death of ffmpeg that a restart
	// follows.
	OnRestart func(err error)
	Log       *slog.Logger
}

// Converter is one ffmpeg re-encoding a stream. Write hands it input
// frames; what ffmpeg makes goes to Config.Decode, from one goroutine, in
// order. If ffmpeg dies it is started again with backoff (1 s doubling to
// 30 s); frames that come meanwhile are dropped. The stream's data path
// never waits for it.
type Converter struct {
	cfg    Config
	log    *slog.Logger
	in     chan Frame
	cancel context.CancelFunc
	done   chan struct{}
	pid    atomic.Int64

	dropped  atomic.Int64
	restarts atomic.Int64
}

const (
	restartDelay    = time.Second
	restartDelayMax = 30 * time.Second
	defaultQueue    = 100
)

// Start runs cfg's ffmpeg under a supervisor until ctx ends or Close. It
// fails if ffmpeg is not installed or does not start.
func Start(ctx context.Context, cfg Config) (*Converter, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = defaultQueue
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Converter{cfg: cfg, log: cfg.Log.With("converter", cfg.Name), in: make(chan Frame, cfg.Queue),
		cancel: cancel, done: make(chan struct{})}
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
	backoff := restartDelay
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
			return // closed, or ffmpeg could not start at all: Start says so
		}
		if time.Since(t0) > time.Minute {
			backoff = restartDelay // it ran a good while: a fresh failure
		}
		c.restarts.Add(1)
		c.log.Warn("converter ended, restarting", "err", err, "in", backoff)
		if c.cfg.OnRestart != nil {
			c.cfg.OnRestart(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartDelayMax)
	}
}

// run is one ffmpeg process; ready reports whether it started. Once ctx
// has ended it returns ctx.Err(): the kill was a close, not a failure.
func (c *Converter) run(ctx context.Context, ready func(error)) error {
	p, err := newProcess(ctx, c.cfg.Args)
	if err != nil {
		ready(err)
		return err
	}
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		ready(err)
		return err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		ready(err)
		return err
	}
	if err := p.cmd.Start(); err != nil {
		err = fmt.Errorf("ffmpeg: start: %w", err)
		ready(err)
		return err
	}
	c.pid.Store(int64(p.cmd.Process.Pid))
	c.log.Debug("converter started", "pid", p.cmd.Process.Pid)
	ready(nil)

	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stdin.Close()
		bw := bufio.NewWriter(stdin)
		write, err := c.cfg.Encode(bw)
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
	derr := c.cfg.Decode(bufio.NewReaderSize(stdout, 8192))
	stop() // the writer goes when the reader does
	_ = stdin.Close()
	werr := p.cmd.Wait()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return p.failed(errors.Join(derr, werr))
}

// Write queues a frame for conversion; when ffmpeg falls a queue behind
// (or is being restarted), the frame is dropped.
func (c *Converter) Write(f Frame) { c.TryWrite(f) }

// TryWrite is Write that says whether the frame was queued: a caller whose
// frames depend on one another (video) must start again at a keyframe
// after a drop.
func (c *Converter) TryWrite(f Frame) bool {
	select {
	case c.in <- f:
		return true
	default:
		if n := c.dropped.Add(1); n == 1 || n%500 == 0 {
			c.log.Warn("converter behind, frames dropped", "dropped", n)
		}
		return false
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
