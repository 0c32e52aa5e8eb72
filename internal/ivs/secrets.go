package ivs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
)

// resourceSecret is the store kind of server secrets.
const resourceSecret = "secret"

// storedSecret is a random key kept in the store, so that what it signs
// outlives a restart.
type storedSecret struct {
	Name string `json:"name"`
	Key  []byte `json:"key"`
}

type secrets struct {
	mu sync.Mutex
	m  map[string][]byte
}

// secret returns the named 32-byte key, created on first use.
func (s *Service) secret(ctx context.Context, name string) ([]byte, error) {
	c := &s.secrets
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.m[name]; ok {
		return k, nil
	}
	d := docs[storedSecret]{store: s.store, kind: resourceSecret, noun: "secret", id: func(v *storedSecret) string { return v.Name }}
	v, err := d.get(ctx, name, name)
	if e, ok := AsError(err); ok && e.Code == CodeResourceNotFound {
		v = storedSecret{Name: name, Key: make([]byte, 32)}
		if _, err := rand.Read(v.Key); err != nil {
			return nil, fmt.Errorf("ivs: random secret: %w", err)
		}
		err = d.create(ctx, &v, s.now())
		if errors.Is(err, ErrConflict) {
			v, err = d.get(ctx, name, name) // another process made it first
		}
	}
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[string][]byte)
	}
	c.m[name] = v.Key
	return v.Key, nil
}

// PlaybackSessionSecret is the key that signs private channels' playback
// session credentials.
func (s *Service) PlaybackSessionSecret(ctx context.Context) ([]byte, error) {
	return s.secret(ctx, "playback-session")
}
