package record

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// flaky is a Storage that is down until up is set, recording what it got
// and counting the puts it refused.
type flaky struct {
	mu      sync.Mutex
	up      bool
	refused int
	keys    []string
	body    map[string]string
}

func (f *flaky) Put(_ context.Context, bucket, key string, body []byte, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		f.refused++
		return errors.New("connection refused")
	}
	f.keys = append(f.keys, bucket+"/"+key)
	f.body[bucket+"/"+key] = string(body)
	return nil
}

func (f *flaky) Check(context.Context, string) error { return nil }

func (f *flaky) setUp(up bool) {
	f.mu.Lock()
	f.up = up
	f.mu.Unlock()
}

func (f *flaky) refusals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *flaky) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

// A store that is down holds nothing back for long and loses nothing: the
// spool keeps the objects (across a restart too) and sends them in order
// once the store is back; a full spool refuses more.
func TestSpool(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "spool")
	st := &flaky{body: map[string]string{}}
	sp, err := OpenSpool(dir, st, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "a"} { // "a" twice: the later one must win
		if err := sp.Put("bkt", k, []byte("v-"+k+time.Now().Format("150405.000000000")), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Put("bkt", "big", make([]byte, 100), ""); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("over the limit: %v", err)
	}
	if n, _ := sp.Pending(); n != 3 {
		t.Fatalf("pending %d", n)
	}

	// A restart finds the same three.
	sp, err = OpenSpool(dir, st, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, b := sp.Pending(); n != 3 || b == 0 {
		t.Fatalf("after reopen: %d objects, %d bytes", n, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sp.Run(ctx) }()
	// The store is down: the spool retries (twice at least) and holds on.
	for deadline := time.Now().Add(20 * time.Second); st.refusals() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d puts tried in 20 s while the store was down, want a retry", st.refusals())
		}
	}
	if len(st.got()) != 0 {
		t.Fatal("uploaded while down")
	}
	st.setUp(true)
	select {
	case <-sp.Drained():
	case <-time.After(10 * time.Second):
		t.Fatal("not drained after the store came back")
	}
	cancel()
	<-done
	if got := st.got(); len(got) != 3 || got[0] != "bkt/a" || got[1] != "bkt/b" || got[2] != "bkt/a" {
		t.Fatalf("order %v", got)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Fatalf("spool not empty: %v", left)
	}
}
