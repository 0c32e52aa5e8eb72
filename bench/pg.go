package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/onair-video/onair/test/e2e/harness"
)

// The bench's PostgreSQL: one private server (test/e2e/harness's, with
// durability on), started the first time a phase needs it, each phase on a
// database of its own, stopped by its PID when bench ends.
var pg struct {
	mu      sync.Mutex
	started bool
	srv     *harness.Postgres
	err     error // why there is none: noPostgres when its programs are missing
	dbs     int
}

// noPostgres is why the postgres runs are skipped: the machine has no
// PostgreSQL server programs (the harness's message says which and how to
// install them).
type noPostgres string

func (e noPostgres) Error() string { return string(e) }

// isNoPostgres tells whether err skips the postgres runs.
func isNoPostgres(err error) bool {
	var np noPostgres
	return errors.As(err, &np)
}

// postgresDB starts the server if it is not yet up and makes a new
// database; it returns its URL and the server's PID (whose children are
// the backends that do the store's work).
func postgresDB() (url string, pid int, err error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if !pg.started {
		pg.started = true
		pg.srv, pg.err = startPostgres()
	}
	if pg.err != nil {
		return "", 0, pg.err
	}
	pg.dbs++
	name := fmt.Sprintf("bench_%d", pg.dbs)
	if _, err := pg.srv.Query("postgres", "CREATE DATABASE "+name); err != nil {
		return "", 0, fmt.Errorf("create database %s: %w", name, err)
	}
	return pg.srv.URL(name), pg.srv.PID(), nil
}

// postgresSettings describes the server's settings in the results.
const postgresSettings = "PostgreSQL defaults (fsync, synchronous_commit, full_page_writes on; shared_buffers 128MB), max_connections 200"

func startPostgres() (*harness.Postgres, error) {
	return catchPG(func() *harness.Postgres {
		return harness.StartPostgresWith(pgT{}, harness.PostgresOptions{Durable: true})
	})
}

// catchPG runs start, turning pgT's Skip and Fatal into errors.
func catchPG(start func() *harness.Postgres) (srv *harness.Postgres, err error) {
	defer func() {
		r := recover()
		switch f := r.(type) {
		case nil:
		case pgSkip:
			err = noPostgres(f)
		case pgFatal:
			err = fmt.Errorf("postgres: %s", string(f))
		default:
			panic(r)
		}
	}()
	return start(), nil
}

// pgT is the bench's harness.PostgresTB: a failure while the server starts
// is returned by startPostgres, its cleanups run when bench ends.
type pgT struct{}

type (
	pgFatal string
	pgSkip  string
)

func (pgT) Helper()                           {}
func (pgT) Fatal(args ...any)                 { panic(pgFatal(fmt.Sprint(args...))) }
func (pgT) Fatalf(format string, args ...any) { panic(pgFatal(fmt.Sprintf(format, args...))) }
func (pgT) Skip(args ...any)                  { panic(pgSkip(fmt.Sprint(args...))) }
func (pgT) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (pgT) Cleanup(f func())                  { atExit(f) }

// cleanups are what bench undoes when it ends, however it ends (fail, a
// signal): the PostgreSQL server and its files.
var cleanups struct {
	mu  sync.Mutex
	fns []func()
}

func atExit(f func()) {
	cleanups.mu.Lock()
	defer cleanups.mu.Unlock()
	cleanups.fns = append(cleanups.fns, f)
}

// runCleanups runs them once, last first.
func runCleanups() {
	cleanups.mu.Lock()
	fns := cleanups.fns
	cleanups.fns = nil
	cleanups.mu.Unlock()
	for _, f := range slices.Backward(fns) {
		f()
	}
}

// cleanupOnSignal makes an interrupted bench stop its PostgreSQL too.
func cleanupOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "\nbench: %v: stopping\n", s)
		runCleanups()
		os.Exit(130)
	}()
}

// postgresVersion is the bench's server's version, once it ran.
func postgresVersion() string {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.srv == nil {
		return "PostgreSQL"
	}
	v, err := pg.srv.Query("postgres", "SHOW server_version")
	if err != nil {
		return "PostgreSQL"
	}
	return "PostgreSQL " + strings.Fields(v)[0]
}

// postgresRan tells whether a phase ran on the bench's PostgreSQL.
func postgresRan() bool {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.srv != nil
}
