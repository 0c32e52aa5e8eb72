// Package harness starts the real onair binary for end-to-end tests: built
// once per test binary with -race, run on loopback port 0 everywhere with a
// temp data dir, found through listeners.json and /healthz, and killed by
// PID (with its process group) when the test ends.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivsrealtime"
)

var binary string

// Main builds the onair binary and runs the package's tests. Call it from
// TestMain.
func Main(m *testing.M) {
	flag.Parse()
	defaultParallel()
	dir, err := os.MkdirTemp("", "onair-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "onair")
	root, err := moduleRoot()
	if err == nil {
		cmd := exec.Command("go", "build", "-race", "-o", binary, "./cmd/onair")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		err = cmd.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness: build onair:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	runAtExit()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Root returns the module's root directory.
func Root(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// Server is a running onair process.
type Server struct {
	t       testing.TB
	DataDir string
	// Addrs are the bound addresses from listeners.json: http, https, rtmp, rtmps, srt, webrtc-udp, webrtc-tcp.
	Addrs           map[string]string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// PostgresURL is the database of a server on --store postgres, empty
	// on SQLite.
	PostgresURL string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // set before done is closed
}

// Options change how Start runs the server.
type Options struct {
	// DataDir reuses a data dir (e.g. to restart); default a new temp dir.
	DataDir string
	// Args are extra flags after "serve".
	Args []string
	// Env are extra environment variables (KEY=VALUE).
	Env []string
}

// Start runs onair and waits until it is healthy.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	if binary == "" {
		t.Fatal("harness: binary not built; call harness.Main from TestMain")
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	args := append([]string{"serve", "--data-dir", o.DataDir,
		"--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0", "--rtmps-addr", "127.0.0.1:0", "--srt-addr", "127.0.0.1:0", "--webrtc-udp-addr", "127.0.0.1:0", "--webrtc-tcp-addr", "127.0.0.1:0",
		"--pprof-addr", "127.0.0.1:0", "--log-level", "debug"}, storeArgs(t, o.DataDir, o.Args)...)
	args = append(args, o.Args...)
	s := &Server{t: t, DataDir: o.DataDir, Region: "us-east-1", logs: &syncBuffer{}, done: make(chan struct{})}
	for i, a := range args {
		if a == "--postgres-url" && i+1 < len(args) {
			s.PostgresURL = args[i+1]
		}
	}
	// A stale listeners.json from an earlier run in the same dir must not
	// be mistaken for this run's.
	_ = os.Remove(filepath.Join(o.DataDir, "listeners.json"))
	s.cmd = exec.Command(binary, args...)
	s.cmd.Env = append(os.Environ(), o.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("harness: start onair: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("onair output (pid %d):\n%s", s.cmd.Process.Pid, s.Logs())
		}
	})
	s.waitReady()
	return s
}

func (s *Server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	path := filepath.Join(s.DataDir, "listeners.json")
	for {
		select {
		case <-s.done:
			s.t.Fatalf("harness: onair exited during start: %v\n%s", s.err, s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("harness: onair not ready after 60s\n%s", s.Logs())
		}
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &s.Addrs) == nil {
			resp, err := http.Get("http://" + s.Addrs["http"] + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.readCredentials()
}

var credRe = regexp.MustCompile(`(?m)^\s*(aws_access_key_id|aws_secret_access_key|region)\s*=\s*(\S+)`)

func (s *Server) readCredentials() {
	s.t.Helper()
	path := filepath.Join(s.DataDir, "credentials")
	fi, err := os.Stat(path)
	if err != nil {
		s.t.Fatalf("harness: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		s.t.Fatalf("harness: %s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("harness: %v", err)
	}
	for _, m := range credRe.FindAllStringSubmatch(string(b), -1) {
		switch m[1] {
		case "aws_access_key_id":
			s.AccessKeyID = m[2]
		case "aws_secret_access_key":
			s.SecretAccessKey = m[2]
		case "region":
			s.Region = m[2]
		}
	}
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		s.t.Fatalf("harness: no key pair in %s", path)
	}
}

// PID returns the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Endpoint is the base URL of the API and playback.
func (s *Server) Endpoint() string { return "http://" + s.Addrs["http"] }

// CredentialsFile is the path of DATA_DIR/credentials (profile "onair").
func (s *Server) CredentialsFile() string { return filepath.Join(s.DataDir, "credentials") }

// IVS returns an aws-sdk-go-v2 IVS client for the server.
func (s *Server) IVS() *ivs.Client {
	return ivs.New(ivs.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, ""),
	})
}

// RealTime returns an aws-sdk-go-v2 IVS Real-Time (Stages) client for the
// server.
func (s *Server) RealTime() *ivsrealtime.Client {
	return ivsrealtime.New(ivsrealtime.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, ""),
	})
}

// RTMPURL is the plain RTMP ingest URL for a stream key.
func (s *Server) RTMPURL(key string) string { return "rtmp://" + s.Addrs["rtmp"] + "/app/" + key }

// RTMPSURL is the RTMPS ingest URL for a stream key.
func (s *Server) RTMPSURL(key string) string { return "rtmps://" + s.Addrs["rtmps"] + "/app/" + key }

// SRTURL is the SRT ingest URL for a stream key, with the channel's
// passphrase when one is given (the caller then encrypts).
func (s *Server) SRTURL(key, passphrase string) string {
	q := url.Values{"streamid": {key}, "pkt_size": {"1316"}}
	if passphrase != "" {
		q.Set("passphrase", passphrase)
	}
	return "srt://" + s.Addrs["srt"] + "?" + q.Encode()
}

// Logs returns everything the server printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// WaitLog waits up to d until the server's log holds substr: the log
// travels through a pipe and may trail what the server did.
func (s *Server) WaitLog(t testing.TB, substr string, d time.Duration) {
	t.Helper()
	Eventually(t, d, func() error {
		if !strings.Contains(s.Logs(), substr) {
			return fmt.Errorf("the server's log lacks %q", substr)
		}
		return nil
	})
}

// Exited is closed when the process has ended.
func (s *Server) Exited() <-chan struct{} { return s.done }

// ExitErr is how the process ended (nil: exit status 0); call it after
// Exited is closed.
func (s *Server) ExitErr() error { return s.err }

// Kill ends the process group with SIGKILL and waits. It is idempotent.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop ends the server with SIGTERM, as an operator would, and waits.
func (s *Server) Stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.Kill()
		s.t.Fatalf("harness: onair did not stop within 15s of SIGTERM")
	}
}

func (s *Server) signal(sig syscall.Signal) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, sig) // the group: nothing it started outlives it
	if sig == syscall.SIGKILL {
		<-s.done
	}
}

// Metric returns the value of an unlabelled Prometheus metric from /metrics.
func (s *Server) Metric(name string) (float64, error) {
	resp, err := http.Get(s.Endpoint() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// Goroutines returns how many goroutines the server runs, less those that
// only hold idle HTTP connections: keep-alive connections of the test's own
// clients, and onair's pooled connections to webhook receivers and S3,
// whose number depends on how requests happened to overlap, not on what
// leaked. Without a profiler listener it is go_goroutines.
func (s *Server) Goroutines(t testing.TB) int {
	t.Helper()
	if s.Addrs["pprof"] == "" {
		v, err := s.Metric("go_goroutines")
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		return int(v)
	}
	n, err := countGoroutines(s.GoroutineDump())
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return n
}

// idleConn are functions whose goroutines hold an HTTP connection between
// requests, or serve the profile being read.
var idleConn = []string{
	"net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop",
	"net/http.(*http2ClientConn).readLoop", "net/http.(*http2serverConn).serve", "net/http.(*http2serverConn).readFrames",
	"net/http.(*connReader).backgroundRead", "net/http/pprof.",
}

// countGoroutines counts a debug=1 goroutine profile's goroutines, less
// idle HTTP connections: a server connection waits for its next request in
// bufio's Peek under (*conn).serve.
func countGoroutines(dump string) (int, error) {
	if !strings.HasPrefix(dump, "goroutine profile:") {
		return 0, fmt.Errorf("goroutine profile: %.200s", dump)
	}
	n := 0
	for _, group := range strings.Split(dump, "\n\n")[1:] {
		head, stack, _ := strings.Cut(strings.TrimSpace(group), "\n")
		count, _, ok := strings.Cut(head, " @ ")
		c, err := strconv.Atoi(count)
		if !ok || err != nil {
			continue
		}
		idle := strings.Contains(stack, "net/http.(*conn).serve") && strings.Contains(stack, "bufio.(*Reader).Peek")
		for _, f := range idleConn {
			idle = idle || strings.Contains(stack, f)
		}
		if !idle {
			n += c
		}
	}
	return n, nil
}

// WaitGoroutines waits until the server's goroutine count is at most limit,
// failing with the count it saw if that does not happen within d.
func (s *Server) WaitGoroutines(t testing.TB, limit int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := s.Goroutines(t)
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			// What is left says what leaked: the profiler's goroutine dump,
			// grouped by stack.
			t.Fatalf("not within %v: %d goroutines, want at most %d\n%s", d, n, limit, s.GoroutineDump())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GoroutineDump is the server's goroutines grouped by stack, from its
// profiler listener, or why it could not be had.
func (s *Server) GoroutineDump() string {
	addr := s.Addrs["pprof"]
	if addr == "" {
		return "(no pprof listener)"
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
