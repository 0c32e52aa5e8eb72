// Package sqlite is the embedded store: one SQLite file in the data dir, WAL
// mode, migrations embedded in the binary and applied at open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is onair's store on SQLite: it implements every store port (those
// of ivs, events and session), and passes storetest.
type Store struct {
	db *sql.DB
	// getChannel is prepared once: GetStream, GetChannel and every
	// playback and ingest look-up read a channel, and parsing the SQL
	// each time was a tenth of the server's CPU under a GetStream load
	// (make bench, api phase, pprof).
	getChannel *sql.Stmt
}

var (
	_ ivs.AccountStore                = (*Store)(nil)
	_ ivs.ChannelStore                = (*Store)(nil)
	_ ivs.RecordingConfigurationStore = (*Store)(nil)
	_ ivs.SessionStore                = (*Store)(nil)
	_ ivs.UsageStore                  = (*Store)(nil)
	_ ivs.EventStore                  = (*Store)(nil)
	_ ivs.DocStore                    = (*Store)(nil)
)

// Open opens (creating if needed) the database file onair.db in dir and
// brings its schema up to date.
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, "onair.db")
	// _txlock=immediate takes the write lock at BEGIN, so two writers wait on
	// busy_timeout instead of failing with SQLITE_BUSY on lock upgrade.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.getChannel, err = db.PrepareContext(ctx, "SELECT id, doc, created_at FROM channels WHERE id = ?"); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	_ = s.getChannel.Close() // closing the database releases it anyway
	return s.db.Close()
}

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("sqlite: read %s: %w", names[i], err)
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: apply %s: %w", names[i], err)
		}
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	return tx.Commit()
}

// list reads every row that query selects with decode; errors name what
// was being read.
func list[T any](ctx context.Context, db *sql.DB, decode func(rowcodec.Scanner) (T, error), what, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := decode(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", what, ivs.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
