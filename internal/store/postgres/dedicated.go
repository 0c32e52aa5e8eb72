package postgres

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// A dedicated connection is one of a process's own, beside the pool: the
// leader locks' (whose session holds the advisory locks) and the event
// log's LISTEN. Each must learn within seconds that it is gone, even idle
// and even on a network that drops packets silently, and so must the
// server: a lock is released only when the server drops the session.
const (
	// keepIdle, keepInterval and keepCount are the TCP keepalives of both
	// ends: a silent peer is given up after about 5 + 3*1 s.
	keepIdle     = 5 * time.Second
	keepInterval = time.Second
	keepCount    = 3
	// userTimeout bounds how long the server's sent data may stay
	// unacknowledged before it drops the connection (tcp_user_timeout).
	userTimeout = 5 * time.Second
	// dialTimeout bounds a connection attempt when the URL does not
	// (connect_timeout).
	dialTimeout = 10 * time.Second
)

// dedicatedConfig is the pool's connection configuration for a dedicated
// connection called app (application_name, unless the URL names one).
// Settings the URL makes are kept.
func (s *Store) dedicatedConfig(app string) *pgx.ConnConfig {
	cfg := s.pool.Config().ConnConfig.Copy()
	// Open names the pool's connections onair unless the URL names them:
	// then the user's name is kept.
	if cfg.RuntimeParams["application_name"] == "onair" {
		cfg.RuntimeParams["application_name"] = app
	}
	// The server's side of the keepalives: libpq's keepalives_* URL
	// parameters do not reach pgx, so these are runtime settings of the
	// session (any user may set them; they apply to TCP connections).
	for k, v := range map[string]string{
		"tcp_keepalives_idle":     fmt.Sprint(int(keepIdle / time.Second)),
		"tcp_keepalives_interval": fmt.Sprint(int(keepInterval / time.Second)),
		"tcp_keepalives_count":    fmt.Sprint(keepCount),
		"tcp_user_timeout":        fmt.Sprint(userTimeout.Milliseconds()),
	} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	// Our side's keepalives; the statements on these connections have
	// their own deadlines besides.
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = dialTimeout
	}
	d := &net.Dialer{Timeout: timeout, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: keepIdle, Interval: keepInterval, Count: keepCount,
	}}
	cfg.DialFunc = d.DialContext
	return cfg
}

// connectDedicated connects cfg, retrying until ctx ends: every 100 ms at
// first, doubling up to every 2 s (a server restarting comes back in
// seconds). failed is told of the first failure and of every 30th, to log.
func connectDedicated(ctx context.Context, cfg *pgx.ConnConfig, failed func(error)) (*pgx.Conn, error) {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, dialTimeout+5*time.Second)
		conn, err := pgx.ConnectConfig(cctx, cfg)
		cancel()
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt%30 == 0 {
			failed(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}
