package main

import (
	"testing"

	"github.com/onair-video/onair/test/e2e/harness"
)

// A missing PostgreSQL (the harness's Skip) is noPostgres, which skips
// the postgres runs; any other failure is an error of the run.
func TestCatchPG(t *testing.T) {
	for _, tc := range []struct {
		name   string
		start  func()
		noPG   bool
		failed bool
	}{
		{"skip", func() { pgT{}.Skip("no PostgreSQL server programs (initdb)") }, true, true},
		{"fatal", func() { pgT{}.Fatal("initdb: exit status 1") }, false, true},
		{"fatalf", func() { pgT{}.Fatalf("postgres exited: %v", "signal: killed") }, false, true},
		{"ok", func() {}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := catchPG(func() *harness.Postgres { tc.start(); return nil })
			if (err != nil) != tc.failed || isNoPostgres(err) != tc.noPG {
				t.Fatalf("err = %v, want failed %t, noPostgres %t", err, tc.failed, tc.noPG)
			}
		})
	}
}

// Cleanups run last first, once.
func TestRunCleanups(t *testing.T) {
	var order []int
	for i := range 3 {
		atExit(func() { order = append(order, i) })
	}
	runCleanups()
	runCleanups()
	if len(order) != 3 || order[0] != 2 || order[2] != 0 {
		t.Fatalf("order = %v, want [2 1 0]", order)
	}
}
