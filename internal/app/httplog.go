package app

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// httpErrorLog is the ErrorLog of onair's HTTP servers: net/http's own
// complaints, sorted by what they mean to an operator. A TLS handshake that
// fails is routine on a public port (scanners, clients that hang up) and
// is logged at debug, except a client's refusal of the certificate: a
// browser that has not accepted the self-signed one, whose user is told
// how to fix it, at info. The rest stays a warning.
func httpErrorLog(l *slog.Logger) *log.Logger {
	return log.New(httpErrorWriter{l}, "", 0)
}

type httpErrorWriter struct{ log *slog.Logger }

func (w httpErrorWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
		if refusedCertificate(msg) {
			w.log.Info("a client refused the server's TLS certificate: a browser must accept the self-signed certificate once (open an https URL of this server) or the server be given one it trusts (--tls-cert, --tls-key)",
				"error", msg)
			return len(p), nil
		}
	}
	w.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// refusedCertificate tells the TLS alerts of a client that does not trust
// the certificate, as crypto/tls words them (Chromium sends
// certificate_unknown, "unknown certificate"; others bad_certificate or
// unknown_ca, which the first also matches).
func refusedCertificate(msg string) bool {
	for _, alert := range []string{"remote error: tls: unknown certificate", "remote error: tls: bad certificate"} {
		if strings.Contains(msg, alert) {
			return true
		}
	}
	return false
}
