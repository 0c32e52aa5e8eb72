package ivschat_test

import (
	"context"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
	"github.com/onair-video/onair/internal/store/sqlite"
)

func newService(t testing.TB) *ivschat.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return ivschat.New(ivschat.Config{Region: "us-east-1", AccountID: "123456789012", Docs: st})
}

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code ivs.Code, field string) {
	t.Helper()
	e, ok := ivs.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if field != "" && (e.Field != field || !strings.Contains(e.Message, field)) {
		t.Fatalf("err = %+v, want it to name %s", e, field)
	}
}
