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
	"io"
	"log/slog"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/internal/conns"
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

	// conns holds the listeners and the connections; its context, which
	// every connection derives from, is cancelled by Close.
	conns *conns.Set[io.Closer, io.Closer]
}

// New returns a Server. It starts nothing.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		reg:   cfg.Registry,
		log:   cfg.Log.With("component", "srt", "protocol", "srt"),
		conns: conns.NewSet[io.Closer, io.Closer](),
	}
}

// Serve accepts connection requests on ln until Close. It returns nil after
// Close, or the listener's error.
func (s *Server) Serve(ln gosrt.Listener) error {
	if !s.conns.Track() {
		ln.Close()
		return nil
	}
	defer s.conns.Done()
	if !s.conns.Add(listener{ln}, listener{ln}) {
		ln.Close()
		return nil
	}

	s.log.Info("listening", "addr", ln.Addr().String())
	for {
		req, err := ln.Accept2()
		if err != nil {
			if s.conns.Closed() || errors.Is(err, gosrt.ErrListenerClosed) {
				return nil
			}
			return fmt.Errorf("srt: accept: %w", err)
		}
		// The key lookup touches the store: never hold up the next caller.
		if !s.conns.Go(func() { s.handle(req) }) {
			req.Reject(gosrt.REJ_CLOSE)
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

// listener is a gosrt.Listener as an io.Closer, for the set.
type listener struct{ gosrt.Listener }

func (l listener) Close() error {
	l.Listener.Close()
	return nil
}
