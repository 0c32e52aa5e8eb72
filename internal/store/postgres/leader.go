package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/events"
)

// Leaders elects leaders among the onair processes that share the
// database (events.Leader): a leadership is a session advisory lock, keyed
// by its name, taken on one connection of the process's own, not the
// pool's. The server releases a session's locks when the session ends, so
// when a process dies (SIGKILL, power, a network that is gone) another
// takes its leaderships over within the retry interval of the server
// noticing. When the connection breaks, every leadership it held ends at
// once (their runs' contexts are cancelled) and they are taken again, by
// this process or another, on the next connection.
type Leaders struct {
	cfg *pgx.ConnConfig
	log *slog.Logger
	// retry is how often a leadership not held is tried; ping how often
	// the lock connection is checked while idle; timeout bounds one
	// statement on it (a connection that does not answer in time is
	// taken for broken).
	retry, ping, timeout time.Duration

	// tries counts the attempts to take a leadership (for tests).
	tries atomic.Int64

	mu      sync.Mutex
	conn    *lockConn     // nil while there is none
	changed chan struct{} // closed when conn changes
	names   map[string]*lockConn
}

// lockConn is the lock connection of one session of the server.
type lockConn struct {
	// mu serializes statements: a pgx.Conn serves one at a time.
	mu   sync.Mutex
	conn *pgx.Conn
	// ctx ends when the connection is found broken or closed: with it end
	// the leaderships that the session held.
	ctx  context.Context
	kill context.CancelCauseFunc
}

var _ events.Leader = (*Leaders)(nil)

// Leadership keys: a bigint advisory lock key whose top byte is leaderTag,
// the rest the name's hashtextextended. The store's own transaction locks
// (lockMigrate, lockEvents, lockDownsample) have a top byte of 0, so no
// name's key is ever one of them; two names colliding in 56 bits of hash
// would only share one runner.
const (
	leaderTag  int64 = 0x4c << 56                                            // 'L'
	leaderMask int64 = 1<<56 - 1                                             // the hash's bits that are kept
	leaderKey        = "$1::bigint | (hashtextextended($2, 0) & $3::bigint)" // of leaderTag, the name, leaderMask
)

// Leaders returns the process's leader elector on the store's database;
// Run keeps its connection.
func (s *Store) Leaders(log *slog.Logger) *Leaders {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Leaders{
		cfg: s.dedicatedConfig("onair-leader"), log: log.With("component", "leader"),
		retry: 2 * time.Second, ping: time.Second, timeout: 2 * time.Second,
		changed: make(chan struct{}), names: make(map[string]*lockConn),
	}
}

// errLockConnLost is the cause of a lock connection's end.
var errLockConnLost = errors.New("postgres: the leader lock connection was lost")

// Run keeps the lock connection until ctx ends: it connects (waiting for a
// server that is down), pings the connection every second, and when it
// breaks, ends its leaderships and connects again. Leaderships are taken
// only while Run runs.
func (l *Leaders) Run(ctx context.Context) {
	lost := false
	for ctx.Err() == nil {
		conn, err := connectDedicated(ctx, l.cfg, func(err error) {
			l.log.Warn("leader lock connection: cannot connect; retrying", "err", err)
		})
		if err != nil {
			return // ctx ended
		}
		if lost {
			l.log.Info("leader lock connection back")
		}
		lc := &lockConn{conn: conn}
		lc.ctx, lc.kill = context.WithCancelCause(context.Background())
		l.setConn(lc)
		err = l.watch(ctx, lc)
		l.setConn(nil)
		lc.kill(errLockConnLost)
		lc.mu.Lock() // after any statement in flight
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx) // the server releases the session's locks
		cancel()
		lc.mu.Unlock()
		if lost = ctx.Err() == nil; lost {
			l.log.Warn("leader lock connection lost: its leaderships ended; reconnecting", "err", err)
		}
	}
}

// watch pings lc until it fails or ctx ends.
func (l *Leaders) watch(ctx context.Context, lc *lockConn) error {
	t := time.NewTicker(l.ping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lc.ctx.Done():
			return context.Cause(lc.ctx)
		case <-t.C:
		}
		if err := l.exec(lc, func(ctx context.Context, c *pgx.Conn) error { return c.Ping(ctx) }); err != nil {
			return err
		}
	}
}

// exec runs fn on lc's connection, with the statement timeout. Any failure
// ends lc: a connection that did not answer, or answered what it should
// not, is not trusted to hold locks.
func (l *Leaders) exec(lc *lockConn, fn func(ctx context.Context, c *pgx.Conn) error) error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.ctx.Err() != nil {
		return context.Cause(lc.ctx)
	}
	ctx, cancel := context.WithTimeout(lc.ctx, l.timeout)
	defer cancel()
	if err := fn(ctx, lc.conn); err != nil {
		err = fmt.Errorf("postgres: leader lock connection: %w", err)
		lc.kill(err)
		return err
	}
	return nil
}

func (l *Leaders) setConn(lc *lockConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = lc
	close(l.changed)
	l.changed = make(chan struct{})
}

// current waits for a live lock connection; nil when ctx ends first.
func (l *Leaders) current(ctx context.Context) *lockConn {
	for {
		l.mu.Lock()
		lc, changed := l.conn, l.changed
		l.mu.Unlock()
		if lc != nil && lc.ctx.Err() == nil {
			return lc
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-lcDone(lc):
		}
	}
}

// lcDone is lc's end, or nil (never) for no connection.
func lcDone(lc *lockConn) <-chan struct{} {
	if lc == nil {
		return nil
	}
	return lc.ctx.Done()
}

// claim reserves name for one Lead of this process: advisory locks are
// re-entrant within a session, so two Leads of one name in a process
// would both hold it.
func (l *Leaders) claim(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, taken := l.names[name]; taken {
		return false
	}
	l.names[name] = nil
	return true
}

func (l *Leaders) hold(name string, lc *lockConn) {
	l.mu.Lock()
	l.names[name] = lc
	l.mu.Unlock()
}

func (l *Leaders) unclaim(name string) {
	l.mu.Lock()
	delete(l.names, name)
	l.mu.Unlock()
}

// Lead implements events.Leader.
func (l *Leaders) Lead(ctx context.Context, name string, run func(ctx context.Context)) {
	for !l.claim(name) {
		if !sleep(ctx, l.retry) {
			return
		}
	}
	defer l.unclaim(name)
	for {
		lc := l.current(ctx)
		if lc == nil {
			return
		}
		var got bool
		l.tries.Add(1)
		err := l.exec(lc, func(ctx context.Context, c *pgx.Conn) error {
			return c.QueryRow(ctx, "SELECT pg_try_advisory_lock("+leaderKey+")", leaderTag, name, leaderMask).Scan(&got)
		})
		if err == nil && got {
			l.lead(ctx, lc, name, run)
		}
		if !sleep(ctx, l.retry) {
			return
		}
	}
}

// lead runs run while lc holds name's lock, then gives the lock back if
// the session still has it.
func (l *Leaders) lead(ctx context.Context, lc *lockConn, name string, run func(ctx context.Context)) {
	rctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(lc.ctx, cancel)
	l.hold(name, lc)
	run(rctx)
	l.hold(name, nil)
	stop()
	cancel()
	var released bool
	err := l.exec(lc, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_advisory_unlock("+leaderKey+")", leaderTag, name, leaderMask).Scan(&released)
	})
	if err == nil && !released {
		// The session lost a lock it should hold: trust none of its locks.
		lc.kill(fmt.Errorf("postgres: leadership %s was not held at its release", name))
	}
}

// Check implements events.Leader: nil when name's leadership is held on a
// connection that answers now.
func (l *Leaders) Check(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	lc := l.names[name]
	l.mu.Unlock()
	if lc == nil {
		return events.ErrNotLeader
	}
	// The session answering is the session holding its locks.
	return l.exec(lc, func(ctx context.Context, c *pgx.Conn) error { return c.Ping(ctx) })
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
