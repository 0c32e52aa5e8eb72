package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/store/storetest"
	"github.com/onair-video/onair/test/e2e/harness"
)

// suites are the tests that share the package's PostgreSQL server, by
// name; each file adds its own in init. A suite makes its databases with
// newStore or newDatabase.
var suites = map[string]func(t *testing.T, pg *harness.Postgres){}

// TestPostgres starts one private PostgreSQL server and runs every suite
// against it, in parallel, each test in its own database. Tests that stop
// the server start their own.
func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	for _, name := range slices.Sorted(maps.Keys(suites)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			suites[name](t, pg)
		})
	}
}

var databases atomic.Int64

// newDatabase makes an empty database and returns its URL.
func newDatabase(t *testing.T, pg *harness.Postgres) string {
	t.Helper()
	return pg.CreateDatabase(fmt.Sprintf("t_%d", databases.Add(1)))
}

// newStore opens a store on a new database, closed when the test ends.
func newStore(t *testing.T, pg *harness.Postgres) *Store {
	t.Helper()
	return openStore(t, newDatabase(t, pg))
}

func openStore(t *testing.T, url string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func init() {
	suites["Migrations"] = testMigrations
	// The behaviour every store shows, unchanged from the SQLite store's.
	suites["Storetest"] = func(t *testing.T, pg *harness.Postgres) {
		storetest.Run(t, func(t *testing.T) *Store { return newStore(t, pg) })
	}
}

// Processes that start together migrate once; a database migrated by a
// newer onair is refused with a clear error.
func testMigrations(t *testing.T, pg *harness.Postgres) {
	url := newDatabase(t, pg)
	errs := together(6, func(int) error {
		s, err := Open(context.Background(), url)
		if err == nil {
			_ = s.Close()
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent opens: %v", err)
	}
	db := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	n, err := pg.Query(db, "SELECT count(*) || ' ' || max(version) FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := migrations.ReadDir("migrations")
	if want := fmt.Sprintf("%d %d", len(names), len(names)); n != want {
		t.Fatalf("schema_migrations: %q, want %q (each applied once)", n, want)
	}
	openStore(t, url) // a second start applies nothing and works

	if _, err := pg.Query(db, fmt.Sprintf("INSERT INTO schema_migrations (version) VALUES (%d)", len(names)+1)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), url)
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", len(names)+1)) {
		t.Fatalf("open of a newer database: %v", err)
	}
}
