// Package postgres is onair's store on PostgreSQL, for installations that
// share one database between onair processes (docs/postgres.md). It
// implements the same ports as internal/store/sqlite and passes the same
// storetest suite; what only a shared server needs (migrations under an
// advisory lock, the event log's commit order, retries of serialization
// failures) is here.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is onair's store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	// node is the cluster node this process is (SetNode); "" outside a
	// cluster.
	node string
}

// SetNode makes this store a cluster node's: the sessions it creates are
// the node's, and EndOpenStreamSessions ends only the node's. Call it
// before the store is used.
func (s *Store) SetNode(id string) { s.node = id }

// Advisory lock keys, one per purpose; arbitrary, fixed forever, and
// distinct from any a later version takes for something else.
const (
	lockMigrate int64 = 0x6f6e616972_01 // "onair" 1: one process migrates at a time
	lockEvents  int64 = 0x6f6e616972_02 // "onair" 2: event appends commit in seq order
)

// defaultMaxConns is the pool's size unless the URL says (pool_max_conns):
// enough for the API, the session tracker, the webhooks and SSE at once.
const defaultMaxConns = 10

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as libpq takes them) and brings its schema up to date.
// A database that is not up yet is waited for until ctx ends; a database
// migrated by a newer onair is refused.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The message names the part that is wrong; pgx keeps passwords
		// out of it.
		return nil, fmt.Errorf("postgres: parse URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	// pg_stat_activity shows onair's connections as onair's.
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "onair"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Where names the database for logs: user, host, port and database, never
// the password.
func (s *Store) Where() string {
	c := s.pool.Config().ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Close closes the pool's connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// ErrSchemaNewer is returned by Open for a database whose schema a newer
// onair made: this binary does not know its tables.
var ErrSchemaNewer = errors.New("postgres: the database was migrated by a newer onair")

// migrate applies the embedded migrations the database lacks, each in its
// own transaction, while holding a session advisory lock: onair processes
// that start together against one database wait for each other, and only
// the first applies anything.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	sort.Strings(names)
	conn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return fmt.Errorf("postgres: lock for migrations: %w", err)
	}
	// Unlocked on every path; a connection that broke took its lock with it.
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate) }()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: schema_migrations: %w", err)
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&version); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("%w: its schema is version %d, this onair knows up to %d; run the newer onair, or restore a backup from before it ran",
			ErrSchemaNewer, version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("postgres: read %s: %w", names[i], err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", i+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: apply %s: %w", names[i], err)
		}
	}
	return nil
}

// acquire takes a connection, waiting for a database that refuses
// connections (not up yet, or restarting) until ctx ends.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	wait := 100 * time.Millisecond
	for {
		conn, err := s.pool.Acquire(ctx)
		if err == nil {
			return conn, nil
		}
		if !retryConnect(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: connect: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("postgres: connect: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// retryConnect says whether a failed connection may succeed later: the
// server refused or dropped it, or is starting or shutting down, rather
// than refusing these credentials or this database.
func retryConnect(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P03", // cannot_connect_now: starting up
			"57P01", "57P02": // admin or crash shutdown
			return true
		}
		return false
	}
	return true // a network error: refused, reset, timed out
}

// maxAttempts bounds how often tx runs a transaction that the server
// aborted for a reason a retry cures.
const maxAttempts = 5

// tx runs fn in a transaction and commits it. A serialization failure or
// deadlock (another writer's transaction won), or a connection that broke
// before anything was sent, runs it again, at most maxAttempts times: fn
// must only touch the database through tx.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || attempt == maxAttempts || !retryTx(err) || ctx.Err() != nil {
			return err
		}
	}
}

func retryTx(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return pgconn.SafeToRetry(err)
}

// notFound turns "no rows" into ivs.ErrNotFound, and wraps any error with
// what was being done.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", what, ivs.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// affected is the error of a write that had to change a row: ErrNotFound
// when it changed none.
func affected(tag pgconn.CommandTag, err error, what string) error {
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", what, ivs.ErrNotFound)
	}
	return nil
}

// get reads the one row with the given keys that query selects, with
// decode: ErrNotFound when there is none, or when a key is not storable.
func get[T any](ctx context.Context, s *Store, decode func(rowcodec.Scanner) (T, error), what string, keys []string,
	query string, args ...any,
) (T, error) {
	if err := unstored(what, keys...); err != nil {
		var zero T
		return zero, err
	}
	v, err := decode(s.pool.QueryRow(ctx, query, args...))
	if err != nil {
		var zero T
		return zero, notFound(err, what+" "+strings.Join(keys, " "))
	}
	return v, nil
}

// list reads every row that query selects, with decode; errors name what
// was being read.
func list[T any](ctx context.Context, s *Store, decode func(rowcodec.Scanner) (T, error), what, query string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	out, err := pgx.AppendRows([]T(nil), rows, func(r pgx.CollectableRow) (T, error) { return decode(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

// change runs a write that must change the row with the given keys:
// ErrNotFound when it changes none, or when a key is not storable.
func (s *Store) change(ctx context.Context, what string, keys []string, query string, args ...any) error {
	if err := unstored(what, keys...); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, query, args...)
	return affected(tag, err, what+" "+strings.Join(keys, " "))
}

// isUnique says whether err is a unique constraint's violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
