package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/config"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// testConfig is a node on loopback with every port chosen by the system.
func testConfig(t *testing.T, dir string, extra ...string) config.Config {
	t.Helper()
	args := []string{"--data-dir", dir, "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0",
		"--rtmps-addr", "127.0.0.1:0", "--srt-addr", "127.0.0.1:0", "--webrtc-udp-addr", "127.0.0.1:0",
		"--webrtc-tcp-addr", "127.0.0.1:0"}
	cfg, err := config.Load(append(args, extra...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quiet() Options { return Options{Version: "test", Log: slog.New(slog.DiscardHandler)} }

// TestRunStartsAndStops starts a whole node, waits until it serves, stops
// it, and checks that every goroutine it started has returned and the
// store is released.
func TestRunStartsAndStops(t *testing.T) {
	before, fds := runtime.NumGoroutine(), openFDs(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, testConfig(t, dir), quiet()) }()

	var addrs map[string]string
	streamtest.Eventually(t, 30*time.Second, "listeners.json", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "listeners.json"))
		return err == nil && json.Unmarshal(b, &addrs) == nil
	})
	for _, l := range []string{"http", "https", "rtmp", "rtmps", "srt", "webrtc-udp", "webrtc-tcp"} {
		if addrs[l] == "" {
			t.Errorf("listeners.json has no %s: %v", l, addrs)
		}
	}
	streamtest.Eventually(t, 30*time.Second, "/healthz", func() bool {
		resp, err := http.Get("http://" + addrs["http"] + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// The same surface over TLS, with the self-signed certificate; the
	// client's connection is closed, so that it leaves nothing behind.
	insecure := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // onair's self-signed certificate
	resp, err := (&http.Client{Transport: insecure}).Get("https://" + addrs["https"] + "/healthz")
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	resp.Body.Close()
	insecure.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("https /healthz: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if fi, err := os.Stat(filepath.Join(dir, "credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials: %v, %v", fi, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * shutdownGrace):
		t.Fatal("Run did not return after its context ended")
	}
	// Every listener is closed: the ports can be bound again.
	if ln, err := net.Listen("tcp", addrs["http"]); err != nil {
		t.Errorf("http port still held: %v", err)
	} else {
		ln.Close()
	}
	// Connections' and the HTTP client's goroutines wind down on their own.
	http.DefaultClient.CloseIdleConnections()
	released(t, before, fds)
}

// TestBuildFailureReleases: a build that fails halfway returns an error
// naming the setting or listener, and releases what it made.
func TestBuildFailureReleases(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name    string
		extra   []string
		prepare func(dir string) // the data dir, before Run
		want    string
	}{
		{"port taken", []string{"--rtmp-addr", taken.Addr().String()}, nil, "listen rtmp"},
		// After the store and the listeners are made.
		{"no geoip database", []string{"--geoip-db", filepath.Join(t.TempDir(), "none.mmdb")}, nil, "--geoip-db"},
		// After the WebRTC engine, WHEP, WHIP and HLS are made too: a file
		// where the spool's directory goes.
		{"no spool", nil, func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "spool"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "spool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.prepare != nil {
				tc.prepare(dir)
			}
			before, fds := runtime.NumGoroutine(), openFDs(t)
			err := Run(context.Background(), testConfig(t, dir, tc.extra...), quiet())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error with %q", err, tc.want)
			}
			released(t, before, fds)
		})
	}
}

// released waits until the goroutines and file descriptors of a node are
// gone (the store's database, listeners, sockets): back to what the test
// had before it.
func released(t *testing.T, goroutines, fds int) {
	t.Helper()
	streamtest.Eventually(t, 10*time.Second, "the node's goroutines and files to be released", func() bool {
		return runtime.NumGoroutine() <= goroutines+2 && openFDs(t) <= fds
	})
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here:", err)
	}
	return len(ents)
}
