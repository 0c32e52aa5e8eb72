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
	"log/slog"
	"net"
	"sync"
	"time"

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

	// ctx is cancelled by Close; every connection derives from it.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards the sets and closed. wg.Add happens only under mu while
	// !closed, so Close's wg.Wait never races with a new Add.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		reg:              cfg.Registry,
		log:              cfg.Log.With(attrComponent, "rtmp", attrProtocol, cfg.Protocol),
		protocol:         cfg.Protocol,
		readTimeout:      cfg.ReadTimeout,
		handshakeTimeout: defaultHandshakeTimeout,
		ctx:              ctx,
		cancel:           cancel,
		listeners:        make(map[net.Listener]struct{}),
		conns:            make(map[net.Conn]struct{}),
	}
}

// Serve accepts connections on ln until Close. It returns nil after Close,
// or the listener's error. Serve may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	s.log.Info("listening", "addr", ln.Addr().String())
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
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
				case <-s.ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("rtmp: accept: %w", err)
		}
		backoff = 0
		if !s.track(conn) {
			_ = conn.Close()
			return nil
		}
		go s.handle(conn)
	}
}

// Close stops accepting, closes every connection and waits until every
// goroutine of the server has returned. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers conn and accounts for its goroutine; false once closed.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) handle(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		_ = nc.Close()
	}()
	c := &conn{
		srv:  s,
		nc:   nc,
		log:  s.log.With(attrRemote, nc.RemoteAddr().String()),
		info: live.ConnInfo{Protocol: s.protocol, Remote: nc.RemoteAddr().String(), Secure: s.protocol == "rtmps"},
	}
	c.run(s.ctx)
}
