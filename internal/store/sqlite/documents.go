package sqlite

import (
	"context"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// CreateDoc implements ivs.DocStore.
func (s *Store) CreateDoc(ctx context.Context, d ivs.Doc) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO documents (kind, id, doc, created_at) VALUES (?, ?, ?, ?)",
		d.Kind, d.ID, string(d.Body), rowcodec.FormatTime(d.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("sqlite: insert %s %s: %w", d.Kind, d.ID, ivs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert %s %s: %w", d.Kind, d.ID, err)
	}
	return nil
}

// PutDoc implements ivs.DocStore.
func (s *Store) PutDoc(ctx context.Context, d ivs.Doc) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO documents (kind, id, doc, created_at) VALUES (?, ?, ?, ?) "+
		"ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc", d.Kind, d.ID, string(d.Body), rowcodec.FormatTime(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: put %s %s: %w", d.Kind, d.ID, err)
	}
	return nil
}

// UpdateDoc implements ivs.DocStore.
func (s *Store) UpdateDoc(ctx context.Context, d ivs.Doc) error {
	res, err := s.db.ExecContext(ctx, "UPDATE documents SET doc = ? WHERE kind = ? AND id = ?", string(d.Body), d.Kind, d.ID)
	return affected(res, err, "update "+d.Kind+" "+d.ID)
}

// GetDoc implements ivs.DocStore.
func (s *Store) GetDoc(ctx context.Context, kind, id string) (ivs.Doc, error) {
	d, err := rowcodec.Doc(s.db.QueryRowContext(ctx, "SELECT kind, id, doc, created_at FROM documents WHERE kind = ? AND id = ?", kind, id))
	if err != nil {
		return ivs.Doc{}, notFound(err, "get "+kind+" "+id)
	}
	return d, nil
}

// DeleteDoc implements ivs.DocStore.
func (s *Store) DeleteDoc(ctx context.Context, kind, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM documents WHERE kind = ? AND id = ?", kind, id)
	return affected(res, err, "delete "+kind+" "+id)
}

// ListDocs implements ivs.DocStore.
func (s *Store) ListDocs(ctx context.Context, kind, afterID string, limit int) ([]ivs.Doc, error) {
	return list(ctx, s.db, rowcodec.Doc, "list "+kind,
		"SELECT kind, id, doc, created_at FROM documents WHERE kind = ? AND id > ? ORDER BY id LIMIT ?", kind, afterID, limit)
}

// CountDocs implements ivs.DocStore.
func (s *Store) CountDocs(ctx context.Context, kind string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM documents WHERE kind = ?", kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", kind, err)
	}
	return n, nil
}
