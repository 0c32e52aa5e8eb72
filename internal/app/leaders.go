package app

import (
	"context"

	"github.com/onair-video/onair/internal/events"
	"github.com/onair-video/onair/internal/store/postgres"
)

// leadership returns the leader of the work that has one runner among the
// processes sharing the store (webhooks' delivery, the downsampler), and
// the background runs it needs. On PostgreSQL, several processes may share
// the database: leaderships are its advisory locks, and the bus also
// hears of events that other processes append (LISTEN). On SQLite the
// process is alone and leads everything.
func (n *node) leadership() (*events.Observed, []func(context.Context)) {
	pg, ok := n.store.(*postgres.Store)
	if !ok {
		return events.Observe(events.Solo{}, n.log), nil
	}
	l := pg.Leaders(n.log)
	return events.Observe(l, n.log), []func(context.Context){
		l.Run,
		func(ctx context.Context) { pg.ListenEvents(ctx, n.bus.Wake, n.log) },
	}
}
