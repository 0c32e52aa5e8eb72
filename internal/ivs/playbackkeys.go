package ivs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5" //nolint:gosec // a fingerprint's shape, as AWS's key fingerprints; not a security boundary
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
)

// ResourcePlaybackKey is the ARN resource type of a playback key pair
// (IVS writes "playback-key", not "playback-key-pair").
const ResourcePlaybackKey = "playback-key"

// MaxPlaybackKeyPairs is IVS's quota of imported playback key pairs.
const MaxPlaybackKeyPairs = 3

// PlaybackKeyPair is an imported public key that signs playback tokens of
// private channels. The wire shows ARN, Name, Fingerprint and Tags.
type PlaybackKeyPair struct {
	ID          string            `json:"id"`
	ARN         string            `json:"arn"`
	Name        string            `json:"name"`
	Fingerprint string            `json:"fingerprint"`
	Tags        map[string]string `json:"tags"`
	// PublicKey is the PEM the key pair was imported with.
	PublicKey string `json:"publicKeyMaterial"`
}

// PlaybackKey is a key pair's parsed public key.
type PlaybackKey struct {
	ARN string
	Key *ecdsa.PublicKey
}

// ImportPlaybackKeyPairInput is the input of ImportPlaybackKeyPair.
type ImportPlaybackKeyPairInput struct {
	PublicKeyMaterial string            `json:"publicKeyMaterial"`
	Name              *string           `json:"name"`
	Tags              map[string]string `json:"tags"`
}

// ListPlaybackKeyPairsInput is the input of ListPlaybackKeyPairs.
type ListPlaybackKeyPairsInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

// playbackKeys caches the parsed public keys: every private playback start
// verifies a token against them.
type playbackKeys struct {
	mu   sync.Mutex
	gen  uint64
	keys []PlaybackKey
	ok   bool
}

func (s *Service) keyPairs() Docs[PlaybackKeyPair] {
	return Docs[PlaybackKeyPair]{Store: s.st.Docs, Kind: ResourcePlaybackKey, Noun: "playback key pair",
		ID: func(k *PlaybackKeyPair) string { return k.ID }}
}

// parsePlaybackPublicKey reads a PEM "PUBLIC KEY" holding an ECDSA P-384
// key, the only kind IVS takes (tokens are ES384).
func parsePlaybackPublicKey(material string) (*ecdsa.PublicKey, []byte, error) {
	const field = "publicKeyMaterial"
	if strings.TrimSpace(material) == "" {
		return nil, nil, Validation(field, "publicKeyMaterial is required")
	}
	if len(material) > 4096 {
		return nil, nil, Validation(field, "publicKeyMaterial must be at most 4096 characters")
	}
	block, _ := pem.Decode([]byte(material))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, nil, Validation(field, "publicKeyMaterial must be a PEM block of type PUBLIC KEY")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, nil, Validation(field, "publicKeyMaterial is not a valid public key: %v", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P384() {
		return nil, nil, Validation(field, "publicKeyMaterial must be an ECDSA P-384 (ES384) public key")
	}
	return ec, block.Bytes, nil
}

// fingerprint is the MD5 of the key's DER, as 16 colon-separated hex bytes:
// the shape IVS shows.
func fingerprint(der []byte) string {
	sum := md5.Sum(der) //nolint:gosec // see import
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = hex.EncodeToString([]byte{b})
	}
	return strings.Join(parts, ":")
}

// ImportPlaybackKeyPair imports a public key for private channels' tokens.
func (s *Service) ImportPlaybackKeyPair(ctx context.Context, in ImportPlaybackKeyPairInput) (PlaybackKeyPair, error) {
	_, der, err := parsePlaybackPublicKey(in.PublicKeyMaterial)
	if err != nil {
		return PlaybackKeyPair{}, err
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	}
	if err := ValidateName("name", name); err != nil {
		return PlaybackKeyPair{}, err
	}
	if err := ValidateTags("tags", in.Tags); err != nil {
		return PlaybackKeyPair{}, err
	}
	existing, err := s.keyPairs().All(ctx)
	if err != nil {
		return PlaybackKeyPair{}, err
	}
	fp := fingerprint(der)
	for _, k := range existing {
		if k.Fingerprint == fp {
			return PlaybackKeyPair{}, conflictf("this public key is already imported as %s", k.ARN)
		}
	}
	if len(existing) >= MaxPlaybackKeyPairs {
		return PlaybackKeyPair{}, &Error{Code: CodeServiceQuotaExceeded,
			Message: fmt.Sprintf("the account has %d playback key pairs, the most it may have; delete one first", len(existing))}
	}
	id := NewResourceID()
	k := PlaybackKeyPair{ID: id, ARN: s.arn(ResourcePlaybackKey, id), Name: name, Fingerprint: fp,
		Tags: CloneTags(in.Tags), PublicKey: in.PublicKeyMaterial}
	// After the write: a read that raced it holds an older generation and
	// does not put what it read.
	defer s.changed(CachePlaybackKeys, "")
	defer s.pbKeys.invalidate()
	if err := s.keyPairs().Create(ctx, &k, s.now()); err != nil {
		return PlaybackKeyPair{}, err
	}
	return k, nil
}

// GetPlaybackKeyPair returns the key pair named by arn.
func (s *Service) GetPlaybackKeyPair(ctx context.Context, arn string) (PlaybackKeyPair, error) {
	return s.playbackKeyPair(ctx, "arn", arn)
}

func (s *Service) playbackKeyPair(ctx context.Context, field, arn string) (PlaybackKeyPair, error) {
	a, err := s.ownARN(field, ResourcePlaybackKey, arn)
	if err != nil {
		return PlaybackKeyPair{}, err
	}
	return s.keyPairs().Get(ctx, a.ID, arn)
}

// DeletePlaybackKeyPair deletes a key pair: tokens it signed stop working
// for new playback sessions.
func (s *Service) DeletePlaybackKeyPair(ctx context.Context, arn string) error {
	a, err := s.ownARN("arn", ResourcePlaybackKey, arn)
	if err != nil {
		return err
	}
	defer s.changed(CachePlaybackKeys, "")
	defer s.pbKeys.invalidate()
	return s.keyPairs().Delete(ctx, a.ID, arn)
}

// ListPlaybackKeyPairs returns a page of key pairs in id order.
func (s *Service) ListPlaybackKeyPairs(ctx context.Context, in ListPlaybackKeyPairsInput) ([]PlaybackKeyPair, string, error) {
	return s.keyPairs().Page(ctx, in.NextToken, in.MaxResults, 100, 100)
}

// PlaybackKeys returns the public keys playback tokens may be signed with.
func (s *Service) PlaybackKeys(ctx context.Context) ([]PlaybackKey, error) {
	c := &s.pbKeys
	c.mu.Lock()
	if c.ok {
		keys := c.keys
		c.mu.Unlock()
		return keys, nil
	}
	gen := c.gen
	c.mu.Unlock()

	pairs, err := s.keyPairs().All(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]PlaybackKey, 0, len(pairs))
	for _, p := range pairs {
		k, _, err := parsePlaybackPublicKey(p.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("ivs: stored playback key pair %s: %w", p.ARN, err)
		}
		keys = append(keys, PlaybackKey{ARN: p.ARN, Key: k})
	}
	c.mu.Lock()
	if c.gen == gen {
		c.keys, c.ok = keys, true
	}
	c.mu.Unlock()
	return keys, nil
}

func (c *playbackKeys) invalidate() {
	c.mu.Lock()
	c.gen++
	c.keys, c.ok = nil, false
	c.mu.Unlock()
}
