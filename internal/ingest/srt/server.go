// Package srt is the SRT ingest: an encoder calls with its stream key in the
// SRT streamid (srt://host:9000?streamid={streamKey}, as IVS documents) and
// sends MPEG-TS, which is demuxed with mediacommon into the channel's hub.
// The channel's SRT passphrase is used when the caller encrypts; an
// unencrypted caller is let in on its stream key alone.
package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/internal/live"
)

const (
	// handshakeTimeout bounds everything before media flows: the key
	// lookup, the MPEG-TS program tables and the first keyframe. A caller
	// that connects and sends nothing useful is cut off by it.
	handshakeTimeout = 10 * time.Second
	claimTimeout     = 5 * time.Second
	// peerIdleTimeout ends a connection whose peer went silent (gosrt
	// closes it; its deadlines are no-ops).
	peerIdleTimeout = 5 * time.Second
)

// Registry authenticates stream keys; *live.Registry implements it.
type Registry interface {
	Claim(ctx context.Context, streamKey string, conn live.ConnInfo) (*live.Publisher, error)
}

// Config holds the dependencies of a Server.
type Config struct {
	Registry Registry
	Log      *slog.Logger
}

// ListenConfig returns the gosrt settings onair listens with: live mode with
// gosrt's defaults (120 ms latency, the caller's if larger), and a peer
// idle timeout that ends a vanished encoder's stream.
func ListenConfig() gosrt.Config {
	c := gosrt.DefaultConfig()
	c.PeerIdleTimeout = peerIdleTimeout
	c.Logger = nil
	return c
}

// Server accepts SRT publishers. Create it with New, run it with Serve and
// stop it with Close.
type Server struct {
	reg Registry
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards the sets and closed; wg.Add happens only under mu while
	// !closed, so Close's wg.Wait never races with a new Add.
	mu        sync.Mutex
	listeners map[gosrt.Listener]struct{}
	conns     map[gosrt.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns a Server. It starts nothing.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		reg:       cfg.Registry,
		log:       cfg.Log.With("component", "srt", "protocol", "srt"),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[gosrt.Listener]struct{}),
		conns:     make(map[gosrt.Conn]struct{}),
	}
}

// Serve accepts connection requests on ln until Close. It returns nil after
// Close, or the listener's error.
func (s *Server) Serve(ln gosrt.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	s.log.Info("listening", "addr", ln.Addr().String())
	for {
		req, err := ln.Accept2()
		if err != nil {
			if s.isClosed() || errors.Is(err, gosrt.ErrListenerClosed) {
				return nil
			}
			return fmt.Errorf("srt: accept: %w", err)
		}
		// The key lookup touches the store: never hold up the next caller.
		if !s.add() {
			req.Reject(gosrt.REJ_CLOSE)
			return nil
		}
		go func() {
			defer s.wg.Done()
			s.handle(req)
		}()
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
		ln.Close()
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

// add accounts for a request's goroutine; false once closed.
func (s *Server) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// track registers an accepted connection so Close can end it; false (and
// the connection closed) once the server is closed.
func (s *Server) track(c gosrt.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c gosrt.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	_ = c.Close()
}
