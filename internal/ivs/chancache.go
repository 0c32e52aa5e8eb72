package ivs

import (
	"context"
	"sync"
)

// channelCache keeps channels read from the store: GetStream, GetChannel,
// playback and ingest all read a channel, and the SQLite read with its
// JSON decode was a third of the server's CPU under a GetStream load (make
// bench, api phase, pprof). Every channel write goes through Service, which
// invalidates. It is per process: a deployment with several onair
// processes on one database invalidate across them: a cluster passes the
// writes on (Config.CacheChanged) and the others call Invalidate.
type channelCache struct {
	mu sync.Mutex
	// gen counts invalidations: a read that began before one must not
	// put what it read.
	gen uint64
	m   map[string]Channel // by id
}

// maxCachedChannels bounds the cache; past it, it starts again empty.
const maxCachedChannels = 10000

func (c *channelCache) get(id string) (Channel, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.m[id]
	if ok {
		ch.Tags = CloneTags(ch.Tags) // callers may change theirs
	}
	return ch, c.gen, ok
}

func (c *channelCache) put(ch Channel, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedChannels {
		c.m = make(map[string]Channel)
	}
	ch.Tags = CloneTags(ch.Tags)
	c.m[ch.ID] = ch
}

func (c *channelCache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = nil
}

func (c *channelCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
}

// channelByID reads a channel through the cache.
func (s *Service) channelByID(ctx context.Context, id string) (Channel, error) {
	ch, gen, ok := s.channels.get(id)
	if ok {
		return ch, nil
	}
	ch, err := s.st.Channels.GetChannel(ctx, id)
	if err != nil {
		return Channel{}, err
	}
	s.channels.put(ch, gen)
	return ch, nil
}

// writeChannel runs a store write of channel id, invalidating the cache on
// both sides of it: a read racing the write can neither keep the old
// channel nor put it back.
func (s *Service) writeChannel(id string, write func() error) error {
	s.channels.invalidate(id)
	defer s.changed(CacheChannel, id)
	defer s.channels.invalidate(id)
	return write()
}

// Caches of the service that other processes invalidate (Invalidate).
const (
	CacheChannel      = "channel"       // one channel, by id
	CachePlaybackKeys = "playback-keys" // every playback key pair
	CachePolicies     = "policies"      // every playback restriction policy
	CacheRevocations  = "revocations"   // every viewer revocation
)

// changed tells Config.CacheChanged of a write that invalidated kind.
func (s *Service) changed(kind, id string) {
	if s.cacheChanged != nil {
		s.cacheChanged(kind, id)
	}
}

// Invalidate drops what the service caches of kind (id: one channel; ""
// every one), after another process wrote it. An unknown kind drops
// everything: a newer process may have more kinds.
func (s *Service) Invalidate(kind, id string) {
	switch kind {
	case CacheChannel:
		if id != "" {
			s.channels.invalidate(id)
			return
		}
		s.channels.invalidateAll()
	case CachePlaybackKeys:
		s.pbKeys.invalidate()
	case CachePolicies:
		s.policyCache.invalidate()
	case CacheRevocations:
		s.revoked.invalidate()
	default:
		s.InvalidateAll()
	}
}

// InvalidateAll drops every cache, e.g. when invalidations from other
// processes may have been lost.
func (s *Service) InvalidateAll() {
	s.channels.invalidateAll()
	s.pbKeys.invalidate()
	s.policyCache.invalidate()
	s.revoked.invalidate()
}

// PlaybackChannel is what playback needs to know of a channel.
type PlaybackChannel struct {
	ID, ARN    string
	Authorized bool
	// PolicyARN is the playback restriction policy's ARN, "" for none.
	PolicyARN string
}

// PlaybackChannel returns what playback needs of the channel with id,
// through the cache and without copying its tags: it is asked on every
// playback request. A missing channel is ResourceNotFound.
func (s *Service) PlaybackChannel(ctx context.Context, id string) (PlaybackChannel, error) {
	s.channels.mu.Lock()
	ch, ok := s.channels.m[id]
	s.channels.mu.Unlock()
	if !ok {
		var err error
		if ch, err = s.channelByID(ctx, id); err != nil {
			return PlaybackChannel{}, storeErr(err, "channel", s.arn(ResourceChannel, id))
		}
	}
	return PlaybackChannel{ID: ch.ID, ARN: ch.ARN, Authorized: ch.Authorized, PolicyARN: ch.PlaybackRestrictionPolicyARN}, nil
}
