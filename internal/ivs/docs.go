package ivs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Docs reads and writes resources of one kind kept as JSON documents in a
// DocStore. T is the stored form. IVS Chat keeps its resources with it too.
type Docs[T any] struct {
	Store DocStore
	Kind  string // the ARN resource type, also the store's kind
	Noun  string // for messages: "playback key pair"
	ID    func(*T) string
}

func (d Docs[T]) encode(v *T) (Doc, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Doc{}, fmt.Errorf("ivs: encode %s: %w", d.Noun, err)
	}
	return Doc{Kind: d.Kind, ID: d.ID(v), Body: b}, nil
}

func (d Docs[T]) decode(doc Doc) (T, error) {
	var v T
	if err := json.Unmarshal(doc.Body, &v); err != nil {
		return v, fmt.Errorf("ivs: decode %s %s: %w", d.Noun, doc.ID, err)
	}
	return v, nil
}

// Create stores a new v; a taken id is ErrConflict, wrapped.
func (d Docs[T]) Create(ctx context.Context, v *T, at time.Time) error {
	doc, err := d.encode(v)
	if err != nil {
		return err
	}
	doc.CreatedAt = at
	if err := d.Store.CreateDoc(ctx, doc); err != nil {
		return fmt.Errorf("ivs: create %s: %w", d.Noun, err)
	}
	return nil
}

// Put creates or replaces v.
func (d Docs[T]) Put(ctx context.Context, v *T, at time.Time) error {
	doc, err := d.encode(v)
	if err != nil {
		return err
	}
	doc.CreatedAt = at
	if err := d.Store.PutDoc(ctx, doc); err != nil {
		return fmt.Errorf("ivs: store %s: %w", d.Noun, err)
	}
	return nil
}

// Update replaces the stored v; arn names it in a ResourceNotFound.
func (d Docs[T]) Update(ctx context.Context, v *T, arn string) error {
	doc, err := d.encode(v)
	if err != nil {
		return err
	}
	if err := d.Store.UpdateDoc(ctx, doc); err != nil {
		return storeErr(err, d.Noun, arn)
	}
	return nil
}

// Get returns the resource with id; arn names it in a ResourceNotFound.
func (d Docs[T]) Get(ctx context.Context, id, arn string) (T, error) {
	doc, err := d.Store.GetDoc(ctx, d.Kind, id)
	if err != nil {
		var zero T
		return zero, storeErr(err, d.Noun, arn)
	}
	return d.decode(doc)
}

// Delete deletes the resource with id; arn names it in a ResourceNotFound.
func (d Docs[T]) Delete(ctx context.Context, id, arn string) error {
	if err := d.Store.DeleteDoc(ctx, d.Kind, id); err != nil {
		return storeErr(err, d.Noun, arn)
	}
	return nil
}

// Count returns how many resources of the kind there are.
func (d Docs[T]) Count(ctx context.Context) (int, error) {
	n, err := d.Store.CountDocs(ctx, d.Kind)
	if err != nil {
		return 0, fmt.Errorf("ivs: count %s: %w", d.Noun, err)
	}
	return n, nil
}

// List returns up to n resources after the id afterID, in id order.
func (d Docs[T]) List(ctx context.Context, afterID string, n int) ([]T, error) {
	page, err := d.Store.ListDocs(ctx, d.Kind, afterID, n)
	if err != nil {
		return nil, fmt.Errorf("ivs: list %s: %w", d.Noun, err)
	}
	out := make([]T, 0, len(page))
	for _, doc := range page {
		v, err := d.decode(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// All returns every resource of the kind, reading the store in pages.
func (d Docs[T]) All(ctx context.Context) ([]T, error) {
	const page = 500
	var out []T
	after := ""
	for {
		vs, err := d.List(ctx, after, page)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
		if len(vs) < page {
			return out, nil
		}
		after = d.ID(&vs[len(vs)-1])
	}
}

// Page is one page of a List operation: the resources and the next token.
// hi is the largest maxResults allowed, def the default.
func (d Docs[T]) Page(ctx context.Context, nextToken string, maxResults *int32, hi, def int) ([]T, string, error) {
	n, err := ValidatePage(nextToken, maxResults, 1, hi, def)
	if err != nil {
		return nil, "", err
	}
	after, err := DecodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	vs, err := d.List(ctx, after, n+1)
	if err != nil {
		return nil, "", err
	}
	vs, next := TrimPage(vs, n, func(v T) string { return d.ID(&v) })
	return vs, next, nil
}
