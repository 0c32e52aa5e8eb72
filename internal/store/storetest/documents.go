package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

func testDocs(t *testing.T, s Documents) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, id := range []string{"b", "a", "c"} {
		must(t, s.CreateDoc(ctx, ivs.Doc{Kind: "k1", ID: id, Body: []byte(`{"id":"` + id + `"}`), CreatedAt: at}))
	}
	must(t, s.CreateDoc(ctx, ivs.Doc{Kind: "k2", ID: "a", Body: []byte(`{}`), CreatedAt: at}))
	if err := s.CreateDoc(ctx, ivs.Doc{Kind: "k1", ID: "a", Body: []byte(`{}`), CreatedAt: at}); !errors.Is(err, ivs.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	d, err := s.GetDoc(ctx, "k1", "a")
	must(t, err)
	if string(d.Body) != `{"id":"a"}` || !d.CreatedAt.Equal(at) || d.Kind != "k1" || d.ID != "a" {
		t.Fatalf("get: %+v", d)
	}
	_, err = s.GetDoc(ctx, "k3", "a")
	wantNotFound(t, err)
	page, err := s.ListDocs(ctx, "k1", "a", 10)
	must(t, err)
	if len(page) != 2 || page[0].ID != "b" || page[1].ID != "c" {
		t.Fatalf("list after a: %+v", page)
	}
	must(t, s.UpdateDoc(ctx, ivs.Doc{Kind: "k1", ID: "a", Body: []byte(`{"v":2}`)}))
	wantNotFound(t, s.UpdateDoc(ctx, ivs.Doc{Kind: "k1", ID: "zz", Body: []byte(`{}`)}))
	must(t, s.PutDoc(ctx, ivs.Doc{Kind: "k1", ID: "a", Body: []byte(`{"v":3}`), CreatedAt: at}))
	must(t, s.PutDoc(ctx, ivs.Doc{Kind: "k1", ID: "d", Body: []byte(`{"v":1}`), CreatedAt: at}))
	if d, _ := s.GetDoc(ctx, "k1", "a"); string(d.Body) != `{"v":3}` {
		t.Fatalf("after put: %s", d.Body)
	}
	must(t, s.DeleteDoc(ctx, "k1", "a"))
	wantNotFound(t, s.DeleteDoc(ctx, "k1", "a"))
	if all, _ := s.ListDocs(ctx, "k1", "", 10); len(all) != 3 {
		t.Fatalf("after delete: %d", len(all))
	}
	if other, _ := s.ListDocs(ctx, "k2", "", 10); len(other) != 1 {
		t.Fatalf("other kind: %d", len(other))
	}
	if n, err := s.CountDocs(ctx, "k1"); err != nil || n != 3 {
		t.Fatalf("CountDocs: %d, %v; want 3", n, err)
	}
	if n, err := s.CountDocs(ctx, "none"); err != nil || n != 0 {
		t.Fatalf("CountDocs of an empty kind: %d, %v", n, err)
	}
}
