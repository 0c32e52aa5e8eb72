package ivsrealtime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5" //nolint:gosec // a fingerprint's format, as IVS shows it; not a security check
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// MaxPublicKeys is the public keys an account may import (inferred: IVS's
// quota page does not list one; this keeps the key search of a self-signed
// token without kid bounded).
const MaxPublicKeys = 100

// PublicKey is an imported public key for self-signed participant tokens.
type PublicKey struct {
	ID                string            `json:"id"`
	ARN               string            `json:"arn"`
	Name              string            `json:"name"`
	PublicKeyMaterial string            `json:"publicKeyMaterial"`
	Fingerprint       string            `json:"fingerprint"`
	Tags              map[string]string `json:"tags"`
	CreateTime        time.Time         `json:"createTime"`
}

// ImportPublicKeyInput is the input of ImportPublicKey.
type ImportPublicKeyInput struct {
	PublicKeyMaterial string            `json:"publicKeyMaterial"`
	Name              *string           `json:"name"`
	Tags              map[string]string `json:"tags"`
}

// ListPublicKeysInput is the input of ListPublicKeys.
type ListPublicKeysInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

func (s *Service) publicKeys() ivs.Docs[PublicKey] {
	return ivs.Docs[PublicKey]{Store: s.docs, Kind: ResourcePublicKey, Noun: "public key", ID: func(k *PublicKey) string { return k.ID }}
}

// parsePublicKey reads a PEM "PUBLIC KEY" of an ECDSA P-384 key: the only
// kind that verifies ES384 tokens.
func parsePublicKey(material string) (*ecdsa.PublicKey, []byte, error) {
	const field = "publicKeyMaterial"
	block, _ := pem.Decode([]byte(strings.TrimSpace(material)))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, nil, ivs.Validation(field, "%s must be a PEM public key (-----BEGIN PUBLIC KEY-----)", field)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, nil, ivs.Validation(field, "%s is not a valid public key: %v", field, err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P384() {
		return nil, nil, ivs.Validation(field, "%s must be an ECDSA P-384 (secp384r1) public key, which signs ES384 tokens", field)
	}
	return ec, block.Bytes, nil
}

// fingerprint is the key's MD5 as colon-separated hex bytes, the format IVS
// shows.
func fingerprint(der []byte) string {
	sum := md5.Sum(der) //nolint:gosec // see the import
	h := hex.EncodeToString(sum[:])
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// ImportPublicKey imports a public key; tokens it verifies are accepted.
// The same key twice is a ConflictException.
func (s *Service) ImportPublicKey(ctx context.Context, in ImportPublicKeyInput) (PublicKey, error) {
	if in.PublicKeyMaterial == "" {
		return PublicKey{}, ivs.Validation("publicKeyMaterial", "publicKeyMaterial is required")
	}
	_, der, err := parsePublicKey(in.PublicKeyMaterial)
	if err != nil {
		return PublicKey{}, err
	}
	id := ivs.NewResourceID()
	now := s.now().UTC()
	k := PublicKey{ID: id, ARN: s.scope.ARN(ResourcePublicKey, id), PublicKeyMaterial: in.PublicKeyMaterial,
		Fingerprint: fingerprint(der), Tags: ivs.CloneTags(in.Tags), CreateTime: now}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return PublicKey{}, err
		}
		k.Name = *in.Name
	}
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return PublicKey{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.publicKeys().All(ctx)
	if err != nil {
		return PublicKey{}, err
	}
	for _, o := range all {
		if o.Fingerprint == k.Fingerprint {
			return PublicKey{}, &ivs.Error{Code: ivs.CodeConflict, Message: "this public key is already imported as " + o.ARN}
		}
	}
	if len(all) >= MaxPublicKeys {
		return PublicKey{}, quota("public keys", len(all), MaxPublicKeys)
	}
	if err := s.publicKeys().Create(ctx, &k, now); err != nil {
		return PublicKey{}, err
	}
	return k, nil
}

// GetPublicKey returns the public key named by its ARN.
func (s *Service) GetPublicKey(ctx context.Context, arn string) (PublicKey, error) {
	a, err := s.scope.OwnARN("arn", ResourcePublicKey, arn)
	if err != nil {
		return PublicKey{}, err
	}
	return s.publicKeys().Get(ctx, a.ID, arn)
}

// DeletePublicKey deletes a public key: tokens it signed are refused from
// then on.
func (s *Service) DeletePublicKey(ctx context.Context, arn string) error {
	k, err := s.GetPublicKey(ctx, arn)
	if err != nil {
		return err
	}
	return s.publicKeys().Delete(ctx, k.ID, arn)
}

// ListPublicKeys returns a page of public keys, by id.
func (s *Service) ListPublicKeys(ctx context.Context, in ListPublicKeysInput) ([]PublicKey, string, error) {
	return s.publicKeys().Page(ctx, in.NextToken, in.MaxResults, 100, 50)
}

// importedKeys returns the imported key kid names (an ARN of this
// account's), or every imported key when kid is "". None when kid names
// no key.
func (s *Service) importedKeys(ctx context.Context, kid string) ([]*ecdsa.PublicKey, error) {
	var ks []PublicKey
	if kid != "" {
		a, err := s.scope.OwnARN("kid", ResourcePublicKey, kid)
		if err != nil {
			return nil, nil //nolint:nilerr // a kid that is no key of ours verifies nothing
		}
		k, err := s.publicKeys().Get(ctx, a.ID, kid)
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ks = []PublicKey{k}
	} else {
		all, err := s.publicKeys().All(ctx)
		if err != nil {
			return nil, err
		}
		ks = all
	}
	out := make([]*ecdsa.PublicKey, 0, len(ks))
	for _, k := range ks {
		pub, _, err := parsePublicKey(k.PublicKeyMaterial)
		if err != nil {
			continue // checked at import
		}
		out = append(out, pub)
	}
	return out, nil
}
