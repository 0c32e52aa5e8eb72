// Package ffmpeg runs ffmpeg for what onair does not encode itself. One
// supervisor (Converter) keeps a converting ffmpeg running behind a
// bounded queue, restarting it with backoff; Run is a one-shot ffmpeg. The
// converters onair uses are built on them: audio between the codecs of
// WebRTC (Opus) and HLS (AAC), VP8 to H.264, and a keyframe to a JPEG.
// The ladders and compositions of other packages use the same Converter
// with their own arguments. It imports nothing of onair's.
package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// ErrNotFound is returned when the ffmpeg program is not installed. Its
// text is the reason health events have always given.
var ErrNotFound = errors.New("transcode: ffmpeg not found (install it: apt-get install ffmpeg)")

// Path returns the path of the ffmpeg program, or ErrNotFound.
func Path() (string, error) {
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", ErrNotFound
	}
	return p, nil
}

// quiet are the flags every run starts with: errors only on stderr, and
// stdin left to the input.
var quiet = []string{"-hide_banner", "-loglevel", "error", "-nostdin"}

// lowDelay are the input flags that make ffmpeg start on the first bytes
// instead of probing seconds of input. Audio converters add -fflags
// nobuffer (one AAC frame, 23 ms, less delay); video must not: it drops
// the packets read while probing, a VP8 stream's first keyframe.
var lowDelay = append(append([]string{}, quiet...),
	"-fflags", "+flush_packets", "-flags", "low_delay", "-probesize", "32", "-analyzeduration", "0")

// LowDelay returns the leading arguments of a live converter: quiet, and
// reading its input as it comes rather than probing it first. Append the
// input and output arguments to it.
func LowDelay() []string { return append([]string{}, lowDelay...) }

// process is one ffmpeg run; the tail of its stderr explains its end.
type process struct {
	cmd    *exec.Cmd
	stderr tailBuffer
}

// newProcess prepares ffmpeg with args; ctx's end kills it.
func newProcess(ctx context.Context, args []string) (*process, error) {
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	p := &process{cmd: exec.CommandContext(ctx, bin, args...), stderr: tailBuffer{max: 2048}}
	p.cmd.Stderr = &p.stderr
	// Wait returns a second after the kill even if something still holds
	// ffmpeg's pipes.
	p.cmd.WaitDelay = time.Second
	return p, nil
}

// failed explains err, the end of the run, with what ffmpeg said.
func (p *process) failed(err error) error {
	return fmt.Errorf("ffmpeg: %w (stderr: %s)", err, p.stderr.String())
}

// Run runs ffmpeg once with args, in on its stdin, and returns what it
// wrote to its stdout.
func Run(ctx context.Context, in io.Reader, args ...string) ([]byte, error) {
	p, err := newProcess(ctx, args)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	p.cmd.Stdin, p.cmd.Stdout = in, &out
	if err := p.cmd.Run(); err != nil {
		return nil, p.failed(err)
	}
	return out.Bytes(), nil
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
