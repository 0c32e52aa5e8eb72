package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestHTTPErrorLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line, want string
	}{
		{"http: TLS handshake error from 127.0.0.1:55044: remote error: tls: unknown certificate", "level=INFO msg=\"a client refused the server's TLS certificate"},
		{"http: TLS handshake error from 10.0.0.9:1234: remote error: tls: unknown certificate authority", "level=INFO"},
		{"http: TLS handshake error from 10.0.0.9:1234: remote error: tls: bad certificate", "level=INFO"},
		{"http: TLS handshake error from 10.0.0.9:1234: EOF", "level=DEBUG msg=\"http: TLS handshake error from 10.0.0.9:1234: EOF\""},
		{"http: TLS handshake error from 10.0.0.9:1234: tls: first record does not look like a TLS handshake", "level=DEBUG"},
		{"http: panic serving 10.0.0.9:1234: boom", "level=WARN msg=\"http: panic serving 10.0.0.9:1234: boom\""},
		{"http: Accept error: too many open files; retrying in 5ms", "level=WARN"},
	} {
		var buf bytes.Buffer
		l := httpErrorLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
		l.Print(tc.line)
		if got := buf.String(); !strings.Contains(got, tc.want) || strings.Count(got, "\n") != 1 {
			t.Errorf("%q logged\n%s\nwant one line with %q", tc.line, got, tc.want)
		}
	}
}
