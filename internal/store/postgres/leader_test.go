package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/events"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() {
	suites["Leaders"] = testLeaders
	suites["ListenEvents"] = testListenEvents
	suites["LeadersSilentNetwork"] = testLeadersSilentNetwork
}

// dbName is the database of a newDatabase URL.
func dbName(url string) string { return url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")] }

// terms records the runs of one leadership over the processes of a test:
// who took it, who gave it up, and whether two ran at once.
type terms struct {
	mu       sync.Mutex
	running  map[int]bool
	overlaps int
	taken    chan int
	ended    chan int
}

func newTerms() *terms {
	return &terms{running: map[int]bool{}, taken: make(chan int, 100), ended: make(chan int, 100)}
}

// run is process i's run: it holds until its ctx ends.
func (tm *terms) run(i int) func(ctx context.Context) {
	return func(ctx context.Context) {
		tm.mu.Lock()
		if len(tm.running) > 0 {
			tm.overlaps++
		}
		tm.running[i] = true
		tm.mu.Unlock()
		tm.taken <- i
		<-ctx.Done()
		tm.mu.Lock()
		delete(tm.running, i)
		tm.mu.Unlock()
		tm.ended <- i
	}
}

func (tm *terms) overlapped() int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.overlaps
}

// wait returns when process want's run takes (c: tm.taken) or gives up
// (tm.ended) the leadership; any other process's fails the test.
func (tm *terms) wait(t *testing.T, c chan int, want int, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case i := <-c:
		if i != want {
			t.Fatalf("%s: process %d, want %d", what, i, want)
		}
	case <-time.After(within):
		t.Fatalf("%s: nothing in %v", what, within)
	}
	return time.Since(start)
}

// leaderProc is one onair process's leader elector on a test database.
type leaderProc struct {
	s *Store
	l *Leaders
}

func startLeaders(t *testing.T, url string) *leaderProc {
	t.Helper()
	p := &leaderProc{s: openStore(t, url)}
	p.l = p.s.Leaders(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// lead runs Lead(name) in a goroutine; stop ends it and waits for it.
func (p *leaderProc) lead(t *testing.T, name string, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.l.Lead(ctx, name, run); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// pid is the server's process id of the lock connection (0 without one).
func (p *leaderProc) pid() uint32 {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	if p.l.conn == nil {
		return 0
	}
	return p.l.conn.conn.PgConn().PID()
}

// leaderLocks counts the leadership locks of name granted in the database.
func leaderLocks(t *testing.T, pg *harness.Postgres, db, name string) string {
	t.Helper()
	out, err := pg.Query(db, fmt.Sprintf(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = (%d | (hashtextextended('%s', 0) & %d))`, leaderTag, name, leaderMask))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Two processes (two stores on one database): one leads, the other waits;
// ending the leader's Lead hands over within the retry interval; killing
// the lock connection of the leader (its backend terminated, as when the
// network or the server drops it) fails its Check at once, ends its run
// within about the ping interval, and the other takes over.
func testLeaders(t *testing.T, pg *harness.Postgres) {
	url := newDatabase(t, pg)
	db := dbName(url)
	const name = "webhook:t"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := []*leaderProc{startLeaders(t, url), startLeaders(t, url)}
	tm := newTerms()

	stop0 := p[0].lead(t, name, tm.run(0))
	tm.wait(t, tm.taken, 0, 20*time.Second, "first leader")
	if err := p[0].l.Check(ctx, name); err != nil {
		t.Fatalf("the leader's Check: %v", err)
	}
	// The server gives up on a silent lock connection within seconds.
	var settings string
	p[0].l.mu.Lock()
	lc := p[0].l.conn
	p[0].l.mu.Unlock()
	err := p[0].l.exec(lc, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT current_setting('tcp_keepalives_idle') || ' ' || current_setting('tcp_keepalives_interval')
			|| ' ' || current_setting('tcp_keepalives_count') || ' ' || current_setting('tcp_user_timeout')
			|| ' ' || current_setting('application_name')`).Scan(&settings)
	})
	if err != nil || settings != "5 1 3 5000 onair-leader" {
		t.Fatalf("the lock connection's keepalives, user timeout, name: %q %v", settings, err)
	}
	stop1 := p[1].lead(t, name, tm.run(1))
	// A second Lead of the same name in the leading process does not run
	// (advisory locks are re-entrant in a session: it would get the lock).
	dup := p[0].lead(t, name, tm.run(2))
	// The other process tries (every 2 s) and waits.
	tries := p[1].l.tries.Load()
	harness.Eventually(t, 20*time.Second, func() error {
		if n := p[1].l.tries.Load(); n < tries+2 {
			return fmt.Errorf("%d attempts", n-tries)
		}
		return nil
	})
	if err := p[1].l.Check(ctx, name); !errors.Is(err, events.ErrNotLeader) {
		t.Fatalf("the waiting process's Check: %v", err)
	}
	if n := leaderLocks(t, pg, db, name); n != "1" {
		t.Fatalf("%s locks held: %s, want 1", name, n)
	}
	dup()
	if tm.overlapped() != 0 {
		t.Fatal("two runs of one leadership at once")
	}

	// The leader stops: it releases the lock, the other takes it within
	// its retry interval.
	start := time.Now()
	stop0()
	tm.wait(t, tm.ended, 0, 5*time.Second, "the stopped leader's run")
	tm.wait(t, tm.taken, 1, 10*time.Second, "the handover")
	handover := time.Since(start)
	if tm.overlapped() != 0 {
		t.Fatal("two processes led at once on a clean handover")
	}
	if handover > 4*time.Second {
		t.Fatalf("handover took %v, want about the 2 s retry", handover)
	}

	// The leader's lock connection is killed (pg_terminate_backend waits
	// for the backend to exit), while idle: its run ends within about the
	// 1 s ping; the other takes over.
	p[0].lead(t, name, tm.run(0))
	pid := p[1].pid()
	terminate := func(pid uint32) {
		t.Helper()
		if out, err := pg.Query(db, fmt.Sprintf("SELECT pg_terminate_backend(%d, 5000)", pid)); err != nil || out != "t" {
			t.Fatalf("terminate the lock connection: %q %v", out, err)
		}
	}
	terminate(pid)
	start = time.Now()
	tm.wait(t, tm.ended, 1, 5*time.Second, "the run of the killed connection's leader")
	ended := time.Since(start)
	tm.wait(t, tm.taken, 0, 10*time.Second, "the takeover")
	takeover := time.Since(start)
	t.Logf("clean handover %v; after the kill: run ended in %v, taken over in %v", handover.Round(time.Millisecond),
		ended.Round(time.Millisecond), takeover.Round(time.Millisecond))
	if ended > 3*time.Second || takeover > 5*time.Second {
		t.Fatalf("after the kill: run ended in %v (want ≤ 3 s), taken over in %v (want ≤ 5 s)", ended, takeover)
	}
	// The killed process reconnects and waits its turn.
	harness.Eventually(t, 20*time.Second, func() error {
		if q := p[1].pid(); q == 0 || q == pid {
			return errors.New("not reconnected")
		}
		return nil
	})
	tries = p[1].l.tries.Load()
	harness.Eventually(t, 20*time.Second, func() error {
		if n := p[1].l.tries.Load(); n < tries+1 {
			return errors.New("no attempt since reconnecting")
		}
		return nil
	})
	if n := leaderLocks(t, pg, db, name); n != "1" {
		t.Fatalf("%s locks held after the takeover: %s, want 1", name, n)
	}
	stop1()
	select {
	case i := <-tm.taken:
		t.Fatalf("process %d took the leadership while it was held", i)
	default:
	}

	// Fencing: right after its connection is killed, before its ping
	// noticed, the leader's Check fails (it would not send), and that
	// ends its run at once.
	terminate(p[0].pid())
	start = time.Now()
	if err := p[0].l.Check(ctx, name); err == nil {
		t.Fatal("Check after the lock connection was killed: nil")
	}
	tm.wait(t, tm.ended, 0, 5*time.Second, "the run whose Check failed")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("the run ended %v after the failed Check", d)
	}
}

// The leadership keys never meet the store's own advisory lock keys.
func TestLeaderKeys(t *testing.T) {
	t.Parallel()
	for _, k := range []int64{lockMigrate, lockEvents, lockDownsample} {
		if k&^leaderMask == leaderTag || k&^leaderMask != 0 {
			t.Errorf("store lock key %#x shares the leaders' top byte or leaves 0's", k)
		}
	}
	if leaderTag&leaderMask != 0 || leaderTag < 0 {
		t.Errorf("tag %#x overlaps the mask %#x", leaderTag, leaderMask)
	}
}

// ListenEvents wakes a process for the events another process appends,
// within a fraction of a second, and again after its connection is
// killed (it reconnects, and wakes once then, for what it may have missed).
func testListenEvents(t *testing.T, pg *harness.Postgres) {
	url := newDatabase(t, pg)
	db := dbName(url)
	a, b := openStore(t, url), openStore(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lctx, stopListen := context.WithCancel(ctx)
	wakes := make(chan struct{}, 1)
	wake := func() {
		select {
		case wakes <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() { a.ListenEvents(lctx, wake, nil); close(done) }()
	defer func() { stopListen(); <-done }()
	waitWake := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		select {
		case <-wakes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up for %s", what)
		}
		return time.Since(start)
	}
	waitWake("the LISTEN") // the wake-up after connecting
	n := 0
	appendEvent := func() {
		n++
		e := &ivs.Event{ID: "e" + strconv.Itoa(n), Time: time.Now(), DetailType: ivs.EventTypeStreamState, Resources: []string{}}
		if err := b.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var lat []time.Duration
	for range 15 {
		select { // a wake-up of the previous append, sent twice
		case <-wakes:
		default:
		}
		start := time.Now()
		appendEvent()
		waitWake("an append by another process")
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p90 := lat[len(lat)/2], lat[len(lat)*9/10]
	t.Logf("append on one process → wake-up on another: p50 %v, p90 %v, max %v", p50, p90, lat[len(lat)-1])
	if p90 > time.Second {
		t.Fatalf("wake-up p90 %v, want under 1 s", p90)
	}

	// The LISTEN connection is killed: ListenEvents reconnects and wakes.
	out, err := pg.Query(db, `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'onair-listen'`)
	if err != nil || out != "1" {
		t.Fatalf("terminate the LISTEN connection: %q %v", out, err)
	}
	waitWake("the reconnection")
	appendEvent()
	waitWake("an append after the reconnection")
}

// A PostgreSQL restart ends the leadership (the run's ctx), and it comes
// back once the server does; LISTEN comes back too.
func TestLeadersRestart(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	url := pg.CreateDatabase("restart")
	p := startLeaders(t, url)
	tm := newTerms()
	p.lead(t, "downsample", tm.run(0))
	tm.wait(t, tm.taken, 0, 20*time.Second, "the leadership")
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		p.s.ListenEvents(ctx, func() {
			select {
			case wakes <- struct{}{}:
			default:
			}
		}, nil)
		close(done)
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-wakes:
	case <-time.After(20 * time.Second):
		t.Fatal("LISTEN never connected")
	}

	pg.Stop()
	tm.wait(t, tm.ended, 0, 10*time.Second, "the run when the server stopped")
	pg.Start()
	took := tm.wait(t, tm.taken, 0, 30*time.Second, "the leadership after the restart")
	t.Logf("leadership back %v after the server accepted connections", took.Round(time.Millisecond))
	select {
	case <-wakes: // the reconnection's
	case <-time.After(30 * time.Second):
		t.Fatal("LISTEN did not reconnect")
	}
	harness.Eventually(t, 30*time.Second, func() error {
		e := &ivs.Event{ID: "after-" + strconv.FormatInt(time.Now().UnixNano(), 10), Time: time.Now(),
			DetailType: ivs.EventTypeStreamState, Resources: []string{}}
		return p.s.AppendEvent(context.Background(), e)
	})
	select {
	case <-wakes:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up for an append after the restart")
	}
}

// blackhole is a TCP proxy to a server that can stop forwarding without
// closing anything: a network that drops packets silently.
type blackhole struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
	conns  []net.Conn
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, thaw: make(chan struct{})}
	t.Cleanup(b.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			b.mu.Lock()
			b.conns = append(b.conns, c, u)
			b.mu.Unlock()
			go b.pipe(c, u)
			go b.pipe(u, c)
		}
	}()
	return b
}

// pipe copies from src to dst, holding what it read while frozen.
func (b *blackhole) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.mu.Lock()
			frozen, thaw := b.frozen, b.thaw
			b.mu.Unlock()
			if frozen {
				<-thaw
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (b *blackhole) freeze() {
	b.mu.Lock()
	b.frozen = true
	b.mu.Unlock()
}

// cut closes every connection, as a partition's end (or the server's
// keepalives) would: what was held is dropped.
func (b *blackhole) cut() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
	if b.frozen {
		b.frozen = false
		close(b.thaw)
		b.thaw = make(chan struct{})
	}
}

// The network to the database goes silent under the leader (nothing is
// closed, nothing answers): it gives its leadership up within about its
// 1 s ping and 2 s timeout, before the server could release the lock.
// Once the server drops the session, another process takes over.
func testLeadersSilentNetwork(t *testing.T, pg *harness.Postgres) {
	url := newDatabase(t, pg)
	hole := newBlackhole(t, fmt.Sprintf("127.0.0.1:%d", pg.Port))
	via := strings.Replace(url, fmt.Sprintf("127.0.0.1:%d", pg.Port), hole.ln.Addr().String(), 1)
	tm := newTerms()
	p := []*leaderProc{startLeaders(t, via), startLeaders(t, url)}
	const name = "webhook:silent"
	p[0].lead(t, name, tm.run(0))
	tm.wait(t, tm.taken, 0, 20*time.Second, "the leadership")
	p[1].lead(t, name, tm.run(1))
	hole.freeze()
	start := time.Now()
	gaveUp := tm.wait(t, tm.ended, 0, 10*time.Second, "the leader's run on a silent network")
	t.Logf("the leader gave up %v after the network went silent", gaveUp.Round(time.Millisecond))
	if gaveUp > 5*time.Second {
		t.Fatalf("the leader gave up after %v, want within about 3 s", gaveUp)
	}
	select {
	case <-tm.taken:
		t.Fatal("another process led while the silent session still held the lock")
	default:
	}
	hole.cut()
	tm.wait(t, tm.taken, 1, 15*time.Second, "the takeover once the session was dropped")
	t.Logf("taken over %v after the network went silent", time.Since(start).Round(time.Millisecond))
}
