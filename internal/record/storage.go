// Package record records live channels to S3 (any S3-compatible store) or
// to a local directory, in IVS's layout: HLS segments and playlists per
// rendition, a master playlist, thumbnails and the recording's event
// files. Every object goes through a local spool first, so a slow or
// unreachable store delays the upload and loses nothing.
package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Storage is where recordings end up.
type Storage interface {
	// Put writes an object.
	Put(ctx context.Context, bucket, key string, body []byte, contentType string) error
	// Check tells whether objects can be written to bucket.
	Check(ctx context.Context, bucket string) error
}

// Local stores a bucket as a directory under Root, keys as paths in it:
// the embedded default when no S3 is configured.
type Local struct{ Root string }

// Put implements Storage: the object appears whole (written beside, then
// renamed).
func (l Local) Put(_ context.Context, bucket, key string, body []byte, _ string) error {
	p, err := l.path(bucket, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	tmp := p + ".part"
	if err := os.WriteFile(tmp, body, 0o640); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

// Check implements Storage.
func (l Local) Check(ctx context.Context, bucket string) error {
	if err := l.Put(ctx, bucket, ".onair-write-check", nil, ""); err != nil {
		return err
	}
	p, _ := l.path(bucket, ".onair-write-check")
	return os.Remove(p)
}

func (l Local) path(bucket, key string) (string, error) {
	if bucket == "" || strings.ContainsAny(bucket, `/\`) || bucket == "." || bucket == ".." {
		return "", fmt.Errorf("record: bad bucket name %q", bucket)
	}
	clean := filepath.Clean("/" + key)
	if clean == "/" || strings.Contains(key, "..") {
		return "", fmt.Errorf("record: bad key %q", key)
	}
	return filepath.Join(l.Root, bucket, clean), nil
}

// S3 stores objects with aws-sdk-go-v2's S3 client (path-style addressing,
// which every S3-compatible server serves).
type S3 struct{ Client *s3.Client }

// Put implements Storage.
func (s S3) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.Client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("record: put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// Check implements Storage: the bucket must exist and take a write.
func (s S3) Check(ctx context.Context, bucket string) error {
	const probe = ".onair-write-check"
	if err := s.Put(ctx, bucket, probe, nil, "text/plain"); err != nil {
		return err
	}
	_, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(probe)})
	if err != nil {
		return fmt.Errorf("record: delete s3://%s/%s: %w", bucket, probe, err)
	}
	return nil
}

// ErrSpoolFull is returned when the spool holds its limit of bytes.
var ErrSpoolFull = errors.New("record: spool full")
