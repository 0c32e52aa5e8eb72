package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/onair-video/onair/test/e2e/harness"
)

// procCPU counts a process's own CPU time, and its children's apart,
// grandchildren included, while they run and once reaped.
func TestProcCPU(t *testing.T) {
	bin := harness.RequireProgram(t, "ffmpeg")
	self0, kids0, n := procCPU(os.Getpid())
	if n != 0 {
		t.Fatalf("%d ffmpeg children before any started", n)
	}
	// Burn 100 ms of this process's own CPU.
	var ru syscall.Rusage
	cpu := func() time.Duration {
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for c0 := cpu(); cpu()-c0 < 100*time.Millisecond; {
	}
	// An ffmpeg grandchild (sh does not exec it: a command follows).
	cmd := exec.Command("sh", "-c", bin+" -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=320x240:rate=30 -t 3 -f null -; true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !seen; time.Sleep(20 * time.Millisecond) {
		_, _, nproc := procCPU(os.Getpid())
		seen = nproc == 1
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Error("the ffmpeg grandchild was never counted")
	}
	self1, kids1, n := procCPU(os.Getpid())
	if n != 0 {
		t.Errorf("%d ffmpeg children after it ended", n)
	}
	// /proc counts in 10 ms ticks.
	if d := self1 - self0; d < 80*time.Millisecond {
		t.Errorf("own CPU grew %v, want about 100 ms or more", d)
	}
	want := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if d := kids1 - kids0; d < want-30*time.Millisecond || d > want+30*time.Millisecond {
		t.Errorf("children's CPU grew %v, the reaped child used %v", d, want)
	}
	if want == 0 {
		t.Error("the child used no CPU: the test measured nothing")
	}
}
