package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/onair-video/onair/internal/config"
	"github.com/onair-video/onair/internal/events"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/session"
	"github.com/onair-video/onair/internal/store/postgres"
	"github.com/onair-video/onair/internal/store/sqlite"
)

// store is every port app hands out, from one store: what storetest checks
// of both implementations.
type store interface {
	ivs.AccountStore
	ivs.ChannelStore
	ivs.RecordingConfigurationStore
	ivs.SessionStore
	ivs.UsageStore
	ivs.EventStore
	ivs.DocStore
	events.WebhookLog
	session.Store
	session.Downsampler
	ivsrealtime.SessionStore
	Close() error
}

var (
	_ store = (*sqlite.Store)(nil)
	_ store = (*postgres.Store)(nil)
)

// postgresWait is how long a start waits for a PostgreSQL server that
// refuses connections (one started beside onair, still coming up) before
// it gives up.
const postgresWait = 60 * time.Second

// openStore opens the store --store names.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store, error) {
	if cfg.Store != config.StorePostgres {
		s, err := sqlite.Open(ctx, cfg.DataDir)
		if err == nil {
			log.Info("store", "kind", config.StoreSQLite, "file", filepath.Join(cfg.DataDir, "onair.db"))
		}
		return s, err
	}
	ctx, cancel := context.WithTimeout(ctx, postgresWait)
	defer cancel()
	s, err := postgres.Open(ctx, cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("--store postgres: %w", err)
	}
	// Where, without the password the URL may hold.
	log.Info("store", "kind", config.StorePostgres, "database", s.Where())
	return s, nil
}
