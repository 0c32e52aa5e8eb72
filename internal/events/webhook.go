package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Log is what SSE reads of the store's event log.
type Log interface {
	// EventsAfter returns up to limit events with Seq > after, in Seq order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]ivs.Event, error)
	// LastEventSeq returns the Seq of the newest event, 0 when there is none.
	LastEventSeq(ctx context.Context) (int64, error)
}

// WebhookLog is what webhook delivery needs of the store: the event log and
// the named cursors that keep each webhook's position in it.
type WebhookLog interface {
	Log
	// Cursor returns a named position in the log; ok is false when it was
	// never set.
	Cursor(ctx context.Context, name string) (seq int64, ok bool, err error)
	// SetCursor moves a named position forward (never back: with several
	// processes, one that lost a webhook's leadership may save its last
	// delivery after its successor saved a later one).
	SetCursor(ctx context.Context, name string, seq int64) error
}

// Webhook is one receiver of every event.
type Webhook struct {
	Name   string // names the webhook's cursor; keep it stable
	URL    string
	Secret string
}

// Signature headers. The signature is HMAC-SHA256, keyed with the webhook's
// secret, over the timestamp, a dot and the raw body:
//
//	X-Onair-Signature: sha256=hex(HMAC-SHA256(secret, X-Onair-Timestamp + "." + body))
//
// A receiver recomputes it, compares in constant time, and rejects old
// timestamps to stop replays (docs/webhooks.md).
const (
	HeaderEventID   = "X-Onair-Event-Id"
	HeaderTimestamp = "X-Onair-Timestamp"
	HeaderSignature = "X-Onair-Signature"
)

// Sign returns the X-Onair-Signature value of body sent at timestamp.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// DispatcherConfig configures webhook delivery. Zero durations take the
// defaults.
type DispatcherConfig struct {
	Store    WebhookLog
	Bus      *Bus
	Webhooks []Webhook
	Log      *slog.Logger
	// Client sends the requests; default one with Timeout.
	Client *http.Client
	// Timeout bounds one delivery. Default 10s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// delivery; it doubles from min to max. Default 1s and 60s.
	MinBackoff, MaxBackoff time.Duration
	// Poll is how often the log is read without a wake-up: a backstop for
	// events stored by another process while its wake-ups do not reach
	// this one. Default 5s.
	Poll time.Duration
	// Leader makes each webhook's delivery loop run in one process of
	// those that share the store: the one that holds the leadership
	// "webhook:<name>". Default Solo (this process is the only one).
	Leader Leader
}

// batch is how many events a dispatcher reads from the store at a time.
const batch = 100

// Dispatcher delivers the event log to webhooks, in order, at least once.
type Dispatcher struct {
	cfg DispatcherConfig
	log *slog.Logger
}

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Leader == nil {
		cfg.Leader = Solo{}
	}
	return &Dispatcher{cfg: cfg, log: cfg.Log.With("component", "webhooks")}
}

// Run delivers until ctx ends, one goroutine per webhook, and returns when
// they all stopped. A webhook's events are sent by the process that holds
// its leadership; the others wait to take over, from the stored cursor.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, h := range d.cfg.Webhooks {
		wg.Go(func() {
			d.cfg.Leader.Lead(ctx, cursorName(h), func(ctx context.Context) { d.deliver(ctx, h) })
		})
	}
	wg.Wait()
}

// cursorName names a webhook's cursor in the store, and its leadership.
func cursorName(h Webhook) string { return "webhook:" + h.Name }

// redactURL is a webhook URL fit for logs: no userinfo, no query (either
// may hold a token).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func (d *Dispatcher) deliver(ctx context.Context, h Webhook) {
	log := d.log.With("webhook", h.Name, "url", redactURL(h.URL))
	wake, cancel := d.cfg.Bus.Notify()
	defer cancel()
	key := cursorName(h) // the cursor's name and the leadership's
	cursor, err := d.startCursor(ctx, key)
	for err != nil {
		// The store is down at start: retry, there is nothing else to do.
		log.Error("read webhook cursor", "err", err)
		if !sleep(ctx, d.cfg.MaxBackoff) {
			return
		}
		cursor, err = d.startCursor(ctx, key)
	}
	backoff := d.cfg.MinBackoff
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	for ctx.Err() == nil {
		evs, err := d.cfg.Store.EventsAfter(ctx, cursor, batch)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("read events", "err", err)
			}
			if !sleep(ctx, d.cfg.MaxBackoff) {
				return
			}
			continue
		}
		for _, e := range evs {
			for {
				// Fencing: a process that lost the leadership (its lock's
				// connection broke, maybe while another took over) must not
				// send. The run's ctx ends when the loss is noticed; this
				// asks the server now, before each attempt.
				if err := d.cfg.Leader.Check(ctx, key); err != nil {
					if ctx.Err() == nil {
						log.Warn("webhook leadership lost before a delivery; stopping", "event_id", e.ID, "seq", e.Seq, "err", err)
					}
					return
				}
				err := d.post(ctx, h, e)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				wait := jitter(backoff)
				log.Warn("webhook delivery failed; retrying", "event_id", e.ID, "seq", e.Seq, "retry_in", wait.Round(time.Millisecond), "err", err)
				if !sleep(ctx, wait) {
					return
				}
				backoff = min(backoff*2, d.cfg.MaxBackoff)
			}
			backoff = d.cfg.MinBackoff
			cursor = e.Seq
			// The cursor is saved after each delivery, even when a stop has
			// begun (the event did go out): a crash between the POST and this
			// write redelivers one event (at least once).
			if err := d.cfg.Store.SetCursor(context.WithoutCancel(ctx), key, cursor); err != nil {
				log.Error("save webhook cursor", "err", err)
			}
			log.Debug("webhook delivered", "event_id", e.ID, "seq", e.Seq, "type", e.DetailType)
		}
		if len(evs) == batch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// startCursor returns the webhook's saved position. A webhook seen for the
// first time starts at the end of the log as it is now, saved at once: it
// gets every event from when it was configured on, but not the history of
// an installation it joined later.
func (d *Dispatcher) startCursor(ctx context.Context, name string) (int64, error) {
	seq, ok, err := d.cfg.Store.Cursor(ctx, name)
	if err != nil || ok {
		return seq, err
	}
	if seq, err = d.cfg.Store.LastEventSeq(ctx); err != nil {
		return 0, err
	}
	return seq, d.cfg.Store.SetCursor(ctx, name, seq)
}

// post sends one event; any 2xx answer is a delivery.
func (d *Dispatcher) post(ctx context.Context, h Webhook, e ivs.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("events: encode event %s: %w", e.ID, err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("events: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "onair-webhooks/1")
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(h.Secret, ts, body))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("events: post: %w", err)
	}
	// Drain a little so the connection can be reused; never all of a
	// hostile receiver's answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("events: receiver answered %s", resp.Status)
	}
	return nil
}

// jitter spreads retries over ±20% so that receivers coming back are not
// hit by every sender at once.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
