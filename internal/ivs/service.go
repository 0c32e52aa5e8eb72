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

// Service implements the IVS operations on top of a Store.
type Service struct {
	store   Store
	region  string
	account string
	now     func() time.Time
	sink    func(Event)
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
	secrets secrets
	// policyCache holds playback restriction policies (policies.go).
	policyCache policyCache
}

// SetLogger sets where the service logs background work.
func (s *Service) SetLogger(log *slog.Logger) { s.log = log.With("component", "ivs") }

// Wait waits for the service's background work.
func (s *Service) Wait() { s.bg.Wait() }

// NewService returns a service for the account in store, which must exist
// (see EnsureAccount).
func NewService(store Store, region string, account Account) *Service {
	return &Service{store: store, region: region, account: account.ID, now: time.Now, log: slog.New(slog.DiscardHandler)}
}

// EnsureAccount returns the stored account, creating it on first start. A
// non-empty akid and secret replace the stored admin key pair.
func EnsureAccount(ctx context.Context, st Store, akid, secret string) (Account, bool, error) {
	a, err := st.Account(ctx)
	created := false
	switch {
	case errors.Is(err, ErrNotFound):
		a = Account{ID: NewAccountID(), AccessKeyID: NewAccessKeyID(), SecretAccessKey: Secret(NewSecretAccessKey())}
		created = true
	case err != nil:
		return Account{}, false, fmt.Errorf("ivs: read account: %w", err)
	}
	changed := created
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
func (s *Service) Region() string { return s.region }

// AccountID returns the service's account id.
func (s *Service) AccountID() string { return s.account }

func (s *Service) arn(kind, id string) string {
	return ARN{Region: s.region, Account: s.account, Resource: kind, ID: id}.String()
}

// ownARN parses an ARN of kind that belongs to this region and account. An
// ARN of another account or region names nothing here: ResourceNotFound.
func (s *Service) ownARN(field, kind, raw string) (ARN, error) {
	a, err := parseTypedARN(field, kind, raw)
	if err != nil {
		return a, err
	}
	if a.Region != s.region || a.Account != s.account {
		return a, notFound(kind, raw)
	}
	return a, nil
}

func encodeToken(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// trimPage cuts a store result of up to n+1 items (one more than a page,
// to learn whether another page follows) to a page and the next page's token.
func trimPage[T any](items []T, n int, key func(T) string) ([]T, string) {
	if len(items) <= n {
		return items, ""
	}
	items = items[:n]
	return items, encodeToken(key(items[n-1]))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", validationf("nextToken", "nextToken is not valid")
	}
	return string(b), nil
}

// storeErr turns a store's not-found into IVS's ResourceNotFound for arn and
// wraps everything else.
func storeErr(err error, kind, arn string) error {
	if errors.Is(err, ErrNotFound) {
		return notFound(kind, arn)
	}
	return fmt.Errorf("ivs: store: %w", err)
}
