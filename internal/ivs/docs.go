package ivs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// docs reads and writes resources of one kind kept as JSON documents in the
// store (Store.CreateDoc and the rest). T is the stored form.
type docs[T any] struct {
	store Store
	kind  string // the ARN resource type, also the store's kind
	noun  string // for messages: "playback key pair"
	id    func(*T) string
}

func (d docs[T]) encode(v *T) (Doc, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Doc{}, fmt.Errorf("ivs: encode %s: %w", d.noun, err)
	}
	return Doc{Kind: d.kind, ID: d.id(v), Body: b}, nil
}

func (d docs[T]) decode(doc Doc) (T, error) {
	var v T
	if err := json.Unmarshal(doc.Body, &v); err != nil {
		return v, fmt.Errorf("ivs: decode %s %s: %w", d.noun, doc.ID, err)
	}
	return v, nil
}

// create stores a new v; a taken id is ErrConflict, wrapped.
func (d docs[T]) create(ctx context.Context, v *T, at time.Time) error {
	doc, err := d.encode(v)
	if err != nil {
		return err
	}
	doc.CreatedAt = at
	if err := d.store.CreateDoc(ctx, doc); err != nil {
		return fmt.Errorf("ivs: create %s: %w", d.noun, err)
	}
	return nil
}

func (d docs[T]) update(ctx context.Context, v *T, arn string) error {
	doc, err := d.encode(v)
	if err != nil {
		return err
	}
	if err := d.store.UpdateDoc(ctx, doc); err != nil {
		return storeErr(err, d.noun, arn)
	}
	return nil
}

// get returns the resource with id; arn names it in a ResourceNotFound.
func (d docs[T]) get(ctx context.Context, id, arn string) (T, error) {
	doc, err := d.store.GetDoc(ctx, d.kind, id)
	if err != nil {
		var zero T
		return zero, storeErr(err, d.noun, arn)
	}
	return d.decode(doc)
}

func (d docs[T]) delete(ctx context.Context, id, arn string) error {
	if err := d.store.DeleteDoc(ctx, d.kind, id); err != nil {
		return storeErr(err, d.noun, arn)
	}
	return nil
}

// list returns up to n resources after the id afterID, in id order.
func (d docs[T]) list(ctx context.Context, afterID string, n int) ([]T, error) {
	page, err := d.store.ListDocs(ctx, d.kind, afterID, n)
	if err != nil {
		return nil, fmt.Errorf("ivs: list %s: %w", d.noun, err)
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

// all returns every resource of the kind, reading the store in pages.
func (d docs[T]) all(ctx context.Context) ([]T, error) {
	const page = 500
	var out []T
	after := ""
	for {
		vs, err := d.list(ctx, after, page)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
		if len(vs) < page {
			return out, nil
		}
		after = d.id(&vs[len(vs)-1])
	}
}

// page is one page of a List operation: the resources and the next token.
func (d docs[T]) page(ctx context.Context, nextToken string, maxResults *int32, hi, def int) ([]T, string, error) {
	n, err := validatePage(nextToken, maxResults, 1, hi, def)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	vs, err := d.list(ctx, after, n+1)
	if err != nil {
		return nil, "", err
	}
	vs, next := trimPage(vs, n, func(v T) string { return d.id(&v) })
	return vs, next, nil
}
