package e2e

import (
	"testing"

	"github.com/onair-video/onair/test/e2e/harness"
)

// The harness's private PostgreSQL (the store and cluster tests' server):
// initdb into a temp dir, a free port, a database per test, data kept
// across a stop and start on the same port, stopped by its PID.
func TestPostgresHarness(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	pg.CreateDatabase("t_harness")
	if _, err := pg.Query("t_harness", "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('a', '1')"); err != nil {
		t.Fatal(err)
	}
	pid := pg.PID()
	pg.Stop()
	if _, err := pg.Query("t_harness", "SELECT 1"); err == nil {
		t.Fatal("a query reached a stopped server")
	}
	if harness.ProcessAlive(pid) {
		t.Fatalf("postgres (pid %d) outlived Stop", pid)
	}
	pg.Start()
	if got, err := pg.Query("t_harness", "SELECT v FROM kv WHERE k = 'a'"); err != nil || got != "1" {
		t.Fatalf("after a restart: %q %v", got, err)
	}
	if v, err := pg.Query("postgres", "SHOW fsync"); err != nil || v != "off" {
		t.Fatalf("fsync %q %v", v, err)
	}
}
