package harness

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Publish describes an ffmpeg publisher of a generated test pattern.
type Publish struct {
	URL      string
	Size     string        // default 640x360
	Rate     int           // frames per second, default 30
	GOP      int           // keyframe interval in frames, default Rate (1 s)
	Duration time.Duration // default: until stopped
	Audio    bool          // add a sine tone as AAC
	// VideoBitrate is x264's target (default 800k); CBR makes it constant
	// (NAL HRD CBR with a one-second buffer), as a broadcast encoder sends.
	VideoBitrate string
	CBR          bool
	// AudioBitrate, AudioRate and AudioChannels default to 96k, 48000, 2.
	AudioBitrate  string
	AudioRate     int
	AudioChannels int
	// Realtime paces the input like a live encoder (-re). Default true.
	Realtime *bool
	// Format is the output container: default flv, or mpegts for srt:// URLs.
	Format string
}

// Process is a program a test started; it is killed with the test.
type Process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// StartFFmpeg publishes a test pattern with ffmpeg.
func StartFFmpeg(t testing.TB, p Publish) *Process {
	t.Helper()
	bin := RequireProgram(t, "ffmpeg")
	if p.Size == "" {
		p.Size = "640x360"
	}
	if p.Rate == 0 {
		p.Rate = 30
	}
	if p.GOP == 0 {
		p.GOP = p.Rate
	}
	if p.VideoBitrate == "" {
		p.VideoBitrate = "800k"
	}
	if p.AudioBitrate == "" {
		p.AudioBitrate = "96k"
	}
	if p.AudioRate == 0 {
		p.AudioRate = 48000
	}
	if p.AudioChannels == 0 {
		p.AudioChannels = 2
	}
	args := []string{"-hide_banner", "-loglevel", "warning", "-nostdin"}
	if p.Realtime == nil || *p.Realtime {
		args = append(args, "-re")
	}
	src := fmt.Sprintf("testsrc2=size=%s:rate=%d", p.Size, p.Rate)
	if p.Duration > 0 {
		src += ":duration=" + strconv.FormatFloat(p.Duration.Seconds(), 'f', 3, 64)
	}
	args = append(args, "-f", "lavfi", "-i", src)
	if p.Audio {
		a := "sine=frequency=440:sample_rate=" + strconv.Itoa(p.AudioRate)
		if p.Duration > 0 {
			a += ":duration=" + strconv.FormatFloat(p.Duration.Seconds(), 'f', 3, 64)
		}
		args = append(args, "-f", "lavfi", "-i", a)
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-g", strconv.Itoa(p.GOP), "-keyint_min", strconv.Itoa(p.GOP), "-sc_threshold", "0",
		"-b:v", p.VideoBitrate)
	if p.CBR {
		args = append(args, "-minrate", p.VideoBitrate, "-maxrate", p.VideoBitrate, "-bufsize", p.VideoBitrate,
			"-x264-params", "nal-hrd=cbr")
	}
	if p.Audio {
		args = append(args, "-c:a", "aac", "-b:a", p.AudioBitrate, "-ar", strconv.Itoa(p.AudioRate),
			"-ac", strconv.Itoa(p.AudioChannels))
	}
	if p.Format == "" {
		p.Format = "flv"
		if strings.HasPrefix(p.URL, "srt://") {
			p.Format = "mpegts"
		}
	}
	args = append(args, "-f", p.Format, p.URL)
	return StartProcess(t, bin, args...)
}

// StartProcess starts a program in its own process group.
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return StartProcessIn(t, "", nil, name, args...)
}

// StartProcessIn starts a program in its own process group, in dir (empty:
// the test's) with env added to the test's environment. Killing the group
// also ends the programs it started (a browser, an encoder).
func StartProcessIn(t testing.TB, dir string, env []string, name string, args ...string) *Process {
	t.Helper()
	pr := &Process{out: &syncBuffer{}, done: make(chan struct{})}
	pr.cmd = exec.Command(name, args...)
	pr.cmd.Dir = dir
	if env != nil {
		pr.cmd.Env = append(os.Environ(), env...)
	}
	pr.cmd.Stdout, pr.cmd.Stderr = pr.out, pr.out
	pr.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := pr.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		pr.err = pr.cmd.Wait()
		close(pr.done)
	}()
	t.Cleanup(func() {
		pr.Kill()
		if t.Failed() {
			t.Logf("%s output (pid %d):\n%s", name, pr.cmd.Process.Pid, pr.Output())
		}
	})
	return pr
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error; valid after Done.
func (p *Process) Err() error { return p.err }

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Wait waits for the process to exit, up to d.
func (p *Process) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

// Signal sends sig to the process (e.g. SIGSTOP to pause an encoder).
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process group and waits. It is idempotent.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // the whole group
	<-p.done
}
