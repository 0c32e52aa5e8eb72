// Package rtmp is the RTMP and RTMPS ingest: it accepts an encoder's
// connection on /app/{streamKey}, authenticates the key through the live
// registry and writes the encoder's access units into the channel's hub.
//
// TLS for RTMPS is done by the caller, who wraps the listener; this package
// sees plain net.Conns either way.
package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/onair-video/onair/internal/conns"
	"github.com/onair-video/onair/internal/live"
)

// Log attribute keys.
const (
	attrComponent = "component"
	attrProtocol  = "protocol"
	attrRemote    = "remote"
	attrChannel   = "channel"
	attrReason    = "reason"
)

const (
	defaultReadTimeout = 10 * time.Second
	// defaultHandshakeTimeout bounds everything before media flows: the RTMP
	// handshake, connect/createStream/publish, the key lookup and the ~2 s of
	// track discovery. A client that stalls or sends garbage is cut off by it.
	defaultHandshakeTimeout = 10 * time.Second
	// claimTimeout bounds the key lookup and the session start in the store.
	claimTimeout = 5 * time.Second
)

// Registry authenticates stream keys; *live.Registry implements it.
type Registry interface {
	Claim(ctx context.Context, streamKey string, conn live.ConnInfo) (*live.Publisher, error)
}

// Config holds the dependencies and settings of a Server.
type Config struct {
	Registry Registry
	Log      *slog.Logger
	// Protocol is "rtmp" or "rtmps". It only labels logs and ConnInfo: the
	// caller wraps the listener with TLS for rtmps.
	Protocol string
	// ReadTimeout ends a stream that sent nothing for this long. Default 10s.
	ReadTimeout time.Duration
}

// Server accepts RTMP publishers. Create it with New, run it with Serve and
// stop it with Close.
type Server struct {
	reg              Registry
	log              *slog.Logger
	protocol         string
	readTimeout      time.Duration
	handshakeTimeout time.Duration

	// conns holds the listeners and the connections; its context, which
	// every connection derives from, is cancelled by Close.
	conns *conns.Set[io.Closer, io.Closer]
}

// New returns a Server. It starts nothing.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Protocol == "" {
		cfg.Protocol = "rtmp"
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	return &Server{
		reg:              cfg.Registry,
		log:              cfg.Log.With(attrComponent, "rtmp", attrProtocol, cfg.Protocol),
		protocol:         cfg.Protocol,
		readTimeout:      cfg.ReadTimeout,
		handshakeTimeout: defaultHandshakeTimeout,
		conns:            conns.NewSet[io.Closer, io.Closer](),
	}
}

// Serve accepts connections on ln until Close. It returns nil after Close,
// or the listener's error. Serve may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	if !s.conns.Track() {
		_ = ln.Close()
		return nil
	}
	defer s.conns.Done()
	if !s.conns.Add(ln, ln) {
		_ = ln.Close()
		return nil
	}
	defer func() {
		s.conns.Remove(ln)
		_ = ln.Close()
	}()

	s.log.Info("listening", "addr", ln.Addr().String())
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.conns.Closed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (e.g. out of file descriptors): back off like
				// net/http instead of spinning or giving up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-s.conns.Context().Done():
					return nil
				}
			}
			return fmt.Errorf("rtmp: accept: %w", err)
		}
		backoff = 0
		if !s.conns.Go(func() { s.handle(conn) }) {
			_ = conn.Close()
			return nil
		}
	}
}

// Close stops accepting, closes every connection and waits until every
// goroutine of the server has returned. It is idempotent.
func (s *Server) Close() error {
	s.conns.Close()
	return nil
}

func (s *Server) handle(nc net.Conn) {
	defer func() { _ = nc.Close() }()
	if !s.conns.Add(nc, nc) {
		return
	}
	defer s.conns.Remove(nc)
	c := &conn{
		srv:  s,
		nc:   nc,
		log:  s.log.With(attrRemote, nc.RemoteAddr().String()),
		info: live.ConnInfo{Protocol: s.protocol, Remote: nc.RemoteAddr().String(), Secure: s.protocol == "rtmps"},
	}
	c.run(s.conns.Context())
}
