package harness

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// heavySlots is how many encoder-heavy tests may run at once:
// ONAIR_E2E_HEAVY, or one per two processors (at least one). Two of them
// side by side (a 720p ladder and Chromium decoding, say) take both cores
// of a 2-core machine and starve each other's real-time work; one beside
// the light tests does not.
func heavySlots() int {
	if v, err := strconv.Atoi(os.Getenv("ONAIR_E2E_HEAVY")); err == nil && v > 0 {
		return v
	}
	return max(1, runtime.NumCPU()/2)
}

var (
	heavy     = make(chan struct{}, heavySlots())
	heavyHeld sync.Map // testing.TB → struct{}: the tests holding a slot
)

// Heavy holds one of the slots of encoder-heavy tests (ffmpeg publishing
// 720p, the STANDARD ladder, Chromium) until t ends, waiting for one to be
// free. It is idempotent within a test. Call it after t.Parallel: a test
// that takes a slot before it pauses would hold it while the serial tests
// run, and a serial test that needs one would wait for ever.
func Heavy(t testing.TB) {
	t.Helper()
	if _, held := heavyHeld.LoadOrStore(t, struct{}{}); held {
		return
	}
	start := time.Now()
	select {
	case heavy <- struct{}{}:
	case <-time.After(15 * time.Minute):
		heavyHeld.Delete(t)
		t.Fatalf("harness: no slot for an encoder-heavy test in 15 minutes (%d slots)", cap(heavy))
	}
	t.Cleanup(func() {
		heavyHeld.Delete(t)
		<-heavy
	})
	if w := time.Since(start); w > time.Second {
		t.Logf("harness: waited %v for one of %d encoder-heavy slots", w.Round(time.Second), cap(heavy))
	}
}

// defaultParallel lets more tests run at once than go test's default (one
// per processor), unless -parallel was given: most e2e tests wait on real
// time (a publisher's seconds, a segment, a timeout) with the processors
// idle, and the heavy ones are held to their slots.
func defaultParallel() {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(2*runtime.GOMAXPROCS(0)))
	}
}
