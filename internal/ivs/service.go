// Package ivs is the domain of the IVS control plane: channels, stream keys,
// streams and their sessions, with IVS's validation rules and errors. It knows
// nothing of HTTP; the api package puts it on the wire.
package ivs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Service implements the IVS operations on top of the store ports.
type Service struct {
	st    Stores
	scope Scope
	now   func() time.Time
	sink  func(Event)
	// inputQuota is the monthly input-hours quota; 0 is none.
	inputQuota float64
	// checkBucket checks a new recording configuration's bucket.
	checkBucket BucketChecker
	log         *slog.Logger
	// bg counts background work (activating recording configurations).
	bg sync.WaitGroup
	// channels caches channel reads (chancache.go).
	channels channelCache
	// keyDeleted cuts off the publisher of a channel whose key is deleted.
	keyDeleted func(channelID string)
	// pbKeys caches the playback public keys (playbackkeys.go).
	pbKeys playbackKeys
	// revoked holds viewer-session revocations (revocations.go).
	revoked revocations
	// secrets caches the server's own keys (secrets.go).
	secrets *Secrets
	// policyCache holds playback restriction policies (policies.go).
	policyCache policyCache
	// cacheChanged hears of writes that invalidated a cache; nil: none.
	cacheChanged func(kind, id string)
}

// Config holds a Service's dependencies and settings. Everything is given
// here, before the service is used: nothing is set after construction.
type Config struct {
	// Region and AccountID name the resources in ARNs; the account must
	// exist in the store (EnsureAccount).
	Region    string
	AccountID string
	// Stores are the store ports, one per aggregate (StoresOf fills them
	// from one store).
	Stores
	Log *slog.Logger
	// InputQuotaHours is the account's monthly input-hours quota; 0 is none.
	InputQuotaHours float64
	// CheckBucket checks a new recording configuration's bucket; nil makes
	// configurations ACTIVE at once.
	CheckBucket BucketChecker
	// EventSink receives every event once it is stored: the in-process bus
	// that wakes webhooks and SSE streams. A sink that misses an event loses
	// nothing (readers read the store). nil: none.
	EventSink func(Event)
	// StreamKeyDeleted cuts off the publisher of a channel whose stream key
	// was deleted: deleting (or rotating) a leaked key must stop whoever
	// holds it, not only their next attempt. The live registry does it, and
	// the registry is built on this service (it resolves keys and opens
	// sessions through it), so app passes a func that calls the registry it
	// builds next. It is not called before the service serves requests.
	StreamKeyDeleted func(channelID string)
	// ViewerRevoked hears of every viewer-session revocation (WHEP closes
	// the viewer's sessions). Like StreamKeyDeleted, a func, because the
	// WHEP server is built after the service.
	ViewerRevoked func(ViewerRevocation)
	// CacheChanged hears of every write that invalidated one of the
	// service's caches (kind is a Cache* constant, id the resource's or
	// ""): a cluster tells the other nodes, which call Invalidate. nil:
	// one process.
	CacheChanged func(kind, id string)
}

// NewService returns a service. It starts nothing.
func NewService(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		st: cfg.Stores, scope: Scope{Region: cfg.Region, Account: cfg.AccountID}, now: time.Now,
		sink: cfg.EventSink, inputQuota: cfg.InputQuotaHours, checkBucket: cfg.CheckBucket,
		log: cfg.Log.With("component", "ivs"), keyDeleted: cfg.StreamKeyDeleted,
		revoked: revocations{notify: cfg.ViewerRevoked}, secrets: NewSecrets(cfg.Docs, time.Now), cacheChanged: cfg.CacheChanged,
	}
}

// Wait waits for the service's background work.
func (s *Service) Wait() { s.bg.Wait() }

// EnsureAccount returns the stored account, creating it on first start. A
// non-empty akid and secret replace the stored admin key pair.
func EnsureAccount(ctx context.Context, st AccountStore, akid, secret string) (Account, bool, error) {
	a, err := st.Account(ctx)
	created := false
	switch {
	case errors.Is(err, ErrNotFound):
		a, created, err = st.CreateAccount(ctx, Account{ID: NewAccountID(), AccessKeyID: NewAccessKeyID(), SecretAccessKey: Secret(NewSecretAccessKey())})
		if err != nil {
			return Account{}, false, fmt.Errorf("ivs: create account: %w", err)
		}
	case err != nil:
		return Account{}, false, fmt.Errorf("ivs: read account: %w", err)
	}
	changed := false
	if akid != "" && secret != "" && (a.AccessKeyID != akid || a.SecretAccessKey.Reveal() != secret) {
		a.AccessKeyID, a.SecretAccessKey = akid, Secret(secret)
		changed = true
	}
	if changed {
		if err := st.PutAccount(ctx, a); err != nil {
			return Account{}, false, fmt.Errorf("ivs: store account: %w", err)
		}
	}
	return a, created, nil
}

// Region returns the service's region.
func (s *Service) Region() string { return s.scope.Region }

// AccountID returns the service's account id.
func (s *Service) AccountID() string { return s.scope.Account }

func (s *Service) arn(kind, id string) string { return s.scope.ARN(kind, id) }

func (s *Service) ownARN(field, kind, raw string) (ARN, error) {
	return s.scope.OwnARN(field, kind, raw)
}

func encodeToken(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// TrimPage cuts a store result of up to n+1 items (one more than a page,
// to learn whether another page follows) to a page and the next page's token.
func TrimPage[T any](items []T, n int, key func(T) string) ([]T, string) {
	if len(items) <= n {
		return items, ""
	}
	items = items[:n]
	return items, encodeToken(key(items[n-1]))
}

// DecodeToken returns the id a page token names ("" for none).
func DecodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", Validation("nextToken", "nextToken is not valid")
	}
	return string(b), nil
}

// storeErr turns a store's not-found into IVS's ResourceNotFound for arn and
// wraps everything else.
func storeErr(err error, kind, arn string) error {
	if errors.Is(err, ErrNotFound) {
		return NotFound(kind, arn)
	}
	return fmt.Errorf("ivs: store: %w", err)
}
