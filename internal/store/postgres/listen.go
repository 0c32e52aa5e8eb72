package postgres

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listenIdle is how long the LISTEN connection waits for a notification
// before it pings the server: how soon a connection that died silently is
// replaced (the readers' polls cover the gap meanwhile).
const listenIdle = 5 * time.Second

// ListenEvents calls wake each time another onair process (or this one)
// appends to the event log, until ctx ends: it LISTENs to the
// notifications AppendEvent sends on commit, on a connection of its own.
// It reconnects after a lost connection, and calls wake after each
// (re)connection too, since appends may have gone unheard meanwhile. wake
// must not block (events.Bus.Wake).
func (s *Store) ListenEvents(ctx context.Context, wake func(), log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "events")
	cfg := s.dedicatedConfig("onair-listen")
	// Notifications are handed over as they are read, whatever the
	// connection was doing: none is buffered.
	cfg.OnNotification = func(*pgconn.PgConn, *pgconn.Notification) { wake() }
	for ctx.Err() == nil {
		conn, err := connectDedicated(ctx, cfg, func(err error) {
			log.Warn("event log LISTEN: cannot connect; retrying", "err", err)
		})
		if err != nil {
			return // ctx ended
		}
		err = listen(ctx, conn, wake)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		log.Warn("event log LISTEN connection lost; reconnecting (readers poll meanwhile)", "err", err)
		// A connection that broke at once (the server is going down) is
		// not retried in a tight loop.
		if !sleep(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// listen LISTENs on conn until it fails or ctx ends.
func listen(ctx context.Context, conn *pgx.Conn, wake func()) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := conn.Exec(lctx, "LISTEN "+notifyEvents)
	cancel()
	if err != nil {
		return err
	}
	wake() // what was appended while no one listened
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		err := conn.PgConn().WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			// OnNotification woke the readers.
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Idle: check that the server is still there.
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			perr := conn.Ping(pctx)
			cancel()
			if perr != nil {
				return perr
			}
		default:
			return err
		}
	}
}
