package harness

import (
	"cmp"
	"math"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// Eventually polls fn until it returns nil, failing the test with fn's last
// error after d. Tests wait with this, never with sleeps.
func Eventually(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	wait := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(wait)
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
}

// RequireProgram returns the path of a program the test needs. Outside CI a
// missing program skips the test with a message; under CI=true it fails.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI but not installed: %v", name, err)
	}
	t.Skipf("%s not installed (apt-get install it, or run make test, which does): %v", name, err)
	return ""
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of xs by the nearest rank,
// leaving xs as it was; tests judge timing and rates by quantiles over a
// whole run, never by one sample.
func Quantile[T cmp.Ordered](xs []T, q float64) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
