package harness

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// StoreEnv names the store the e2e servers use: ONAIR_TEST_STORE=postgres
// runs every Start against a private PostgreSQL that the test binary
// shares, one database per data dir (so a restart with the same data dir
// finds its state); unset or sqlite is the default store.
const StoreEnv = "ONAIR_TEST_STORE"

// TestStore is the store the e2e servers use: "sqlite" or "postgres".
func TestStore() string {
	if os.Getenv(StoreEnv) == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// shared is the PostgreSQL server of ONAIR_TEST_STORE=postgres, started by
// the first Start that needs it and stopped when the test binary ends.
var shared struct {
	once sync.Once
	pg   *Postgres
	err  error

	mu  sync.Mutex
	dbs map[string]string // data dir → database URL
}

// atExit are what Main runs after the tests, last first: the shared
// server's stop and the removal of its files.
var atExit struct {
	mu  sync.Mutex
	fns []func()
}

func runAtExit() {
	atExit.mu.Lock()
	fns := slices.Clone(atExit.fns)
	atExit.mu.Unlock()
	for _, f := range slices.Backward(fns) {
		f()
	}
}

// SharedPostgres returns the test binary's PostgreSQL server, starting it
// on first use.
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	shared.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(sharedFailure)
				if !ok {
					panic(r)
				}
				shared.err = fmt.Errorf("harness: shared PostgreSQL: %s", string(f))
			}
		}()
		shared.pg = startPostgres(sharedT{})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.pg
}

// storeArgs are the flags that put a server with dataDir on the test
// store, unless args choose a store themselves.
func storeArgs(t testing.TB, dataDir string, args []string) []string {
	t.Helper()
	if TestStore() != "postgres" || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--store") }) {
		return nil
	}
	pg := SharedPostgres(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.dbs == nil {
		shared.dbs = map[string]string{}
	}
	u, ok := shared.dbs[dataDir]
	if !ok {
		// Not CreateDatabase: its failure belongs to this test, not to the
		// binary's.
		name := fmt.Sprintf("e2e_%d", len(shared.dbs)+1)
		if _, err := pg.query("postgres", "CREATE DATABASE "+name); err != nil {
			t.Fatalf("harness: create database %s: %v", name, err)
		}
		u = pg.URL(name)
		shared.dbs[dataDir] = u
	}
	return []string{"--store", "postgres", "--postgres-url", u}
}

// sharedT is the shared server's test: the test binary. A failure while
// it starts is returned to the Start that needed it; its cleanups run at
// exit.
type sharedT struct{}

type sharedFailure string

func (sharedT) Helper()                           {}
func (sharedT) Fatal(args ...any)                 { panic(sharedFailure(fmt.Sprint(args...))) }
func (sharedT) Fatalf(format string, args ...any) { panic(sharedFailure(fmt.Sprintf(format, args...))) }
func (sharedT) Skip(args ...any)                  { panic(sharedFailure(fmt.Sprint(args...))) }
func (sharedT) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "harness: "+format+"\n", args...)
}

func (sharedT) Cleanup(f func()) {
	atExit.mu.Lock()
	defer atExit.mu.Unlock()
	atExit.fns = append(atExit.fns, f)
}
