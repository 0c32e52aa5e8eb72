package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private PostgreSQL server for a test: Debian's binaries,
// a cluster made by initdb in a temp dir, listening on a free loopback
// port, stopped by its PID when the test ends. No Docker, no shared
// server (docs/design.md; scale-out.md §6.1).
type Postgres struct {
	t       PostgresTB
	durable bool   // fsync and synchronous commit on (PostgresOptions)
	bin     string // the directory of initdb, postgres, psql
	dir     string // the cluster
	sock    string // the directory of its Unix socket
	Port    int
	cred    *syscall.Credential // the user the server runs as when the test runs as root

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan error // the running server's Wait
}

// postgresBin finds the directory of Debian's PostgreSQL server programs:
// pg_config's, else the newest /usr/lib/postgresql/<version>/bin.
func postgresBin() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server programs (initdb): install Debian's postgresql (scripts/deps.sh --test)")
}

// StartPostgres makes and starts a private PostgreSQL cluster. Without
// PostgreSQL's programs the test is skipped, or fails under CI (which
// installs them).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	return startPostgres(t)
}

// PostgresTB is what a Postgres needs of its owner: a testing.TB, the
// test binary's (sharedT) for the server that ONAIR_TEST_STORE=postgres
// shares, or a program's stand-in (bench's).
type PostgresTB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// PostgresOptions are how a server differs from a test's.
type PostgresOptions struct {
	// Durable keeps PostgreSQL's defaults for durability (fsync,
	// synchronous_commit, full_page_writes on) and for shared_buffers:
	// what a benchmark measures. A test's server turns them off.
	Durable bool
}

// StartPostgresWith is StartPostgres for any owner, with options: bench
// starts its server with it. Without PostgreSQL's programs it calls
// t.Skip (t.Fatal when CI is set).
func StartPostgresWith(t PostgresTB, o PostgresOptions) *Postgres {
	t.Helper()
	return startPostgresWith(t, o)
}

func startPostgres(t PostgresTB) *Postgres {
	t.Helper()
	return startPostgresWith(t, PostgresOptions{})
}

func startPostgresWith(t PostgresTB, o PostgresOptions) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	p := &Postgres{t: t, bin: bin, durable: o.Durable}
	// initdb and postgres refuse to run as root: as root (CI), the
	// cluster belongs to the postgres user Debian's package made.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent is the test's, which the postgres user
	// may not enter.
	root, err := os.MkdirTemp("", "onair-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	p.dir, p.sock = filepath.Join(root, "data"), filepath.Join(root, "sock")
	for _, d := range []string{p.dir, p.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if p.cred != nil {
		for _, d := range []string{root, p.dir, p.sock} {
			if err := os.Chown(d, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	if out, err := p.command("initdb", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D", p.dir).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Port = freePort(t)
	// Before Start: a server that started but never accepted
	// connections is stopped too.
	t.Cleanup(p.Stop)
	p.Start()
	t.Logf("postgres: %s on port %d, up in %v", bin, p.Port, time.Since(start).Round(10*time.Millisecond))
	return p
}

// command is one of the server's programs, run as its user.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// freePort returns a loopback TCP port nobody listens on now.
func freePort(t PostgresTB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs the server (again, after Stop: the same port and data) and
// waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	args := []string{"-D", p.dir, "-p", strconv.Itoa(p.Port), "-k", p.sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"}
	if !p.durable {
		// Durability is off: a test's database dies with the test.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "shared_buffers=32MB")
	}
	cmd := p.command("postgres", args...)
	p.out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("postgres: %v", err)
	}
	p.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Reaped by the goroutine above; Stop waits for it through exited
	// (also when the server never came up: the cleanup stops it).
	p.exited = exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), time.Second)
		if err == nil {
			c.Close()
			// Accepting TCP is not accepting queries (recovery, start-up):
			// a query answers that.
			if _, qerr := p.query("postgres", "SELECT 1"); qerr == nil {
				break
			}
		}
		select {
		case err := <-exited:
			p.cmd = nil
			p.t.Fatalf("postgres exited: %v\n%s", err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("postgres did not accept connections in 30 s:\n%s", p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown: SIGINT to its PID) and waits
// for it. Start brings it back.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case err = <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		err = <-p.exited
	}
	if err != nil {
		p.t.Logf("postgres (pid %d) stopped: %v", p.cmd.Process.Pid, err)
	}
	p.cmd = nil
}

// PID is the server's process id (0 while stopped).
func (p *Postgres) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// URL is a connection URL of database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// CreateDatabase makes a new empty database for one test and returns its
// URL.
func (p *Postgres) CreateDatabase(name string) string {
	p.t.Helper()
	if _, err := p.query("postgres", "CREATE DATABASE "+name); err != nil {
		p.t.Fatalf("create database %s: %v", name, err)
	}
	return p.URL(name)
}

// Query runs SQL in database db with psql, PostgreSQL's own client, and
// returns its unaligned output.
func (p *Postgres) Query(db, sql string) (string, error) { return p.query(db, sql) }

func (p *Postgres) query(db, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(p.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-d", p.URL(db), "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql: %w: %s", err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// ProcessAlive tells whether a process with pid exists (signal 0).
func ProcessAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
