package postgres

import (
	"context"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var _ ivs.DocStore = (*Store)(nil)

// CreateDoc implements ivs.DocStore.
func (s *Store) CreateDoc(ctx context.Context, d ivs.Doc) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO documents (kind, id, doc, created_at) VALUES ($1, $2, $3, $4)",
		d.Kind, d.ID, string(d.Body), rowcodec.FormatTime(d.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("postgres: insert %s %s: %w", d.Kind, d.ID, ivs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert %s %s: %w", d.Kind, d.ID, err)
	}
	return nil
}

// PutDoc implements ivs.DocStore.
func (s *Store) PutDoc(ctx context.Context, d ivs.Doc) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO documents (kind, id, doc, created_at) VALUES ($1, $2, $3, $4) "+
		"ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc", d.Kind, d.ID, string(d.Body), rowcodec.FormatTime(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("postgres: put %s %s: %w", d.Kind, d.ID, err)
	}
	return nil
}

// UpdateDoc implements ivs.DocStore.
func (s *Store) UpdateDoc(ctx context.Context, d ivs.Doc) error {
	return s.change(ctx, "update", []string{d.Kind, d.ID},
		"UPDATE documents SET doc = $1 WHERE kind = $2 AND id = $3", string(d.Body), d.Kind, d.ID)
}

// GetDoc implements ivs.DocStore.
func (s *Store) GetDoc(ctx context.Context, kind, id string) (ivs.Doc, error) {
	return get(ctx, s, rowcodec.Doc, "get", []string{kind, id},
		"SELECT kind, id, doc, created_at FROM documents WHERE kind = $1 AND id = $2", kind, id)
}

// DeleteDoc implements ivs.DocStore.
func (s *Store) DeleteDoc(ctx context.Context, kind, id string) error {
	return s.change(ctx, "delete", []string{kind, id}, "DELETE FROM documents WHERE kind = $1 AND id = $2", kind, id)
}

// ListDocs implements ivs.DocStore.
func (s *Store) ListDocs(ctx context.Context, kind, afterID string, limit int) ([]ivs.Doc, error) {
	if !storable(kind) {
		return nil, nil // no document is of this kind
	}
	cond, after := afterCond("id", afterID, 2)
	return list(ctx, s, rowcodec.Doc, "list "+kind,
		"SELECT kind, id, doc, created_at FROM documents WHERE kind = $1 AND "+cond+" ORDER BY id LIMIT $3",
		kind, after, limit)
}

// CountDocs implements ivs.DocStore.
func (s *Store) CountDocs(ctx context.Context, kind string) (int, error) {
	if !storable(kind) {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM documents WHERE kind = $1", kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count %s: %w", kind, err)
	}
	return n, nil
}
