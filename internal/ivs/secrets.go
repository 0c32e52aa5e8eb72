package ivs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"
)

// resourceSecret is the store kind of server secrets.
const resourceSecret = "secret"

// storedSecret is a random key kept in the store, so that what it signs
// outlives a restart.
type storedSecret struct {
	Name string `json:"name"`
	Key  []byte `json:"key"`
}

// Secrets are the server's own keys, by name, created on first use, kept
// as documents and cached. Each domain asks for its own names (IVS Chat's
// token key is "chat-token").
type Secrets struct {
	docs Docs[storedSecret]
	now  func() time.Time
	mu   sync.Mutex
	m    map[string][]byte
}

// NewSecrets returns the secrets kept in store.
func NewSecrets(store DocStore, now func() time.Time) *Secrets {
	return &Secrets{now: now, m: make(map[string][]byte),
		docs: Docs[storedSecret]{Store: store, Kind: resourceSecret, Noun: "secret", ID: func(v *storedSecret) string { return v.Name }}}
}

// Get returns the named 32-byte key, created on first use.
func (c *Secrets) Get(ctx context.Context, name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.m[name]; ok {
		return k, nil
	}
	v, err := c.docs.Get(ctx, name, name)
	if e, ok := AsError(err); ok && e.Code == CodeResourceNotFound {
		v = storedSecret{Name: name, Key: make([]byte, 32)}
		if _, err := rand.Read(v.Key); err != nil {
			return nil, fmt.Errorf("ivs: random secret: %w", err)
		}
		err = c.docs.Create(ctx, &v, c.now())
		if errors.Is(err, ErrConflict) {
			v, err = c.docs.Get(ctx, name, name) // another process made it first
		}
	}
	if err != nil {
		return nil, err
	}
	c.m[name] = v.Key
	return v.Key, nil
}

// PlaybackSessionSecret is the key that signs private channels' playback
// session credentials.
func (s *Service) PlaybackSessionSecret(ctx context.Context) ([]byte, error) {
	return s.secrets.Get(ctx, "playback-session")
}

// ClusterSecret is the key that authenticates requests between a
// cluster's nodes (kept in the shared store, so every node has it).
func (s *Service) ClusterSecret(ctx context.Context) ([]byte, error) {
	return s.secrets.Get(ctx, "cluster")
}
