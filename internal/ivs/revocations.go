package ivs

import (
	"context"
	"sync"
)

// resourceViewerRevocation is the store kind of viewer-session revocations.
const resourceViewerRevocation = "viewer-revocation"

// maxViewerIDLen is IVS's bound on aws:viewer-id and viewerId.
const maxViewerIDLen = 40

// ViewerRevocation revokes a viewer's playback sessions on a channel whose
// token carried aws:viewer-session-version ≤ Version.
type ViewerRevocation struct {
	ChannelID string `json:"channelId"`
	ViewerID  string `json:"viewerId"`
	Version   int64  `json:"version"`
}

func (r *ViewerRevocation) key() string { return r.ChannelID + "/" + r.ViewerID }

// ViewerSessionInput names a viewer's sessions to revoke.
type ViewerSessionInput struct {
	ChannelARN string `json:"channelArn"`
	ViewerID   string `json:"viewerId"`
	// VersionsLessThanOrEqualTo defaults to 0.
	VersionsLessThanOrEqualTo *int64 `json:"viewerSessionVersionsLessThanOrEqualTo"`
}

// BatchRevocationError is one failed item of BatchStartViewerSessionRevocation.
type BatchRevocationError struct {
	ChannelARN string `json:"channelArn"`
	ViewerID   string `json:"viewerId"`
	Code       string `json:"code"`
	Message    string `json:"message"`
}

// revocations holds every revocation in memory: playback checks one on
// every request of a private channel's viewer.
type revocations struct {
	load sync.Mutex // held while the map is first read from the store
	mu   sync.RWMutex
	m    map[string]int64 // channelId/viewerId → highest revoked version; nil until loaded
	// notify hears of each new revocation (WHEP closes its sessions); nil:
	// none.
	notify func(ViewerRevocation)
}

func (s *Service) revocationDocs() Docs[ViewerRevocation] {
	return Docs[ViewerRevocation]{Store: s.st.Docs, Kind: resourceViewerRevocation, Noun: "viewer revocation",
		ID: (*ViewerRevocation).key}
}

// loadRevocations reads the revocations from the store the first time it
// succeeds; a failed read is tried again by the next caller.
func (s *Service) loadRevocations(ctx context.Context) error {
	r := &s.revoked
	r.mu.RLock()
	loaded := r.m != nil
	r.mu.RUnlock()
	if loaded {
		return nil
	}
	r.load.Lock()
	defer r.load.Unlock()
	r.mu.RLock()
	loaded = r.m != nil
	r.mu.RUnlock()
	if loaded {
		return nil
	}
	all, err := s.revocationDocs().All(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]int64, len(all))
	for _, v := range all {
		m[v.key()] = v.Version
	}
	r.mu.Lock()
	r.m = m
	r.mu.Unlock()
	return nil
}

// ViewerRevoked reports whether a viewer's session of the given version on
// a channel was revoked.
func (s *Service) ViewerRevoked(ctx context.Context, channelID, viewerID string, version int64) (bool, error) {
	if viewerID == "" {
		return false, nil
	}
	if err := s.loadRevocations(ctx); err != nil {
		return false, err
	}
	s.revoked.mu.RLock()
	v, ok := s.revoked.m[channelID+"/"+viewerID]
	s.revoked.mu.RUnlock()
	return ok && version <= v, nil
}

// StartViewerSessionRevocation revokes a viewer's sessions on a channel.
func (s *Service) StartViewerSessionRevocation(ctx context.Context, in ViewerSessionInput) error {
	c, err := s.channel(ctx, "channelArn", in.ChannelARN)
	if err != nil {
		return err
	}
	if in.ViewerID == "" || len(in.ViewerID) > maxViewerIDLen {
		return Validation("viewerId", "viewerId must be 1 to %d characters", maxViewerIDLen)
	}
	var version int64
	if in.VersionsLessThanOrEqualTo != nil {
		version = *in.VersionsLessThanOrEqualTo
	}
	if version < 0 {
		return Validation("viewerSessionVersionsLessThanOrEqualTo", "viewerSessionVersionsLessThanOrEqualTo must be at least 0")
	}
	if err := s.loadRevocations(ctx); err != nil {
		return err
	}
	rev := ViewerRevocation{ChannelID: c.ID, ViewerID: in.ViewerID, Version: version}
	if err := s.putRevocation(ctx, &rev); err != nil {
		return err
	}
	s.changed(CacheRevocations, "")
	if s.revoked.notify != nil {
		s.revoked.notify(rev)
	}
	return nil
}

// invalidate makes the next check read the revocations from the store
// again (another process stored one).
func (r *revocations) invalidate() {
	r.mu.Lock()
	r.m = nil
	r.mu.Unlock()
}

// putRevocation stores rev, widened to any version already revoked.
func (s *Service) putRevocation(ctx context.Context, rev *ViewerRevocation) error {
	r := &s.revoked
	// One writer at a time, so the stored and the held versions agree.
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.m[rev.key()]; ok && cur > rev.Version {
		rev.Version = cur // a revocation never narrows
	}
	if err := s.revocationDocs().Put(ctx, rev, s.now()); err != nil {
		return err
	}
	if r.m != nil { // else invalidated meanwhile: the next check reads it
		r.m[rev.key()] = rev.Version
	}
	return nil
}

// MaxRevocationBatch is the most viewer sessions one batch may revoke.
const MaxRevocationBatch = 20

// BatchStartViewerSessionRevocation revokes up to 20 viewers' sessions; a
// failed item is reported in the errors, not as the call's error.
func (s *Service) BatchStartViewerSessionRevocation(ctx context.Context, items []ViewerSessionInput) ([]BatchRevocationError, error) {
	if len(items) == 0 || len(items) > MaxRevocationBatch {
		return nil, Validation("viewerSessions", "viewerSessions must hold 1 to %d items", MaxRevocationBatch)
	}
	var errs []BatchRevocationError
	for _, in := range items {
		err := s.StartViewerSessionRevocation(ctx, in)
		if err == nil {
			continue
		}
		e, ok := AsError(err)
		if !ok {
			return nil, err
		}
		errs = append(errs, BatchRevocationError{ChannelARN: in.ChannelARN, ViewerID: in.ViewerID, Code: string(e.Code), Message: e.Message})
	}
	return errs, nil
}
