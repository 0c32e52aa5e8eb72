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

// wantCode checks that err is an IVS error of code that names field ("":
// any field).
func wantCode(t *testing.T, err error, code ivs.Code, field string) {
	t.Helper()
	e, ok := ivs.AsError(err)
	if !ok || e.Code != code || (field != "" && (e.Field != field || !strings.Contains(e.Message, field))) {
		t.Fatalf("err = %v, want %s naming %q", err, code, field)
	}
}

// Rooms and logging configurations are tagged through the three tag
// operations; ARNs that name no resource of this service are refused as
// IVS Chat refuses them.
func TestTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	room, err := s.CreateRoom(ctx, ivschat.CreateRoomInput{Tags: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := s.CreateLoggingConfiguration(ctx, ivschat.CreateLoggingConfigurationInput{
		DestinationConfiguration: &ivschat.LoggingDestination{S3: &ivs.S3Destination{BucketName: "chat-logs"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range []string{room.ARN, lc.ARN} {
		if err := s.TagResource(ctx, arn, map[string]string{"b": "2", "c": "3"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UntagResource(ctx, arn, []string{"c", "never-set"}); err != nil {
			t.Fatal(err)
		}
		tags, err := s.ListTagsForResource(ctx, arn)
		if err != nil || tags["b"] != "2" || tags["c"] != "" || (arn == room.ARN) != (tags["a"] == "1") {
			t.Fatalf("%s: tags %v, %v", arn, tags, err)
		}
	}
	if r, _ := s.GetRoom(ctx, room.ARN); r.Tags["b"] != "2" {
		t.Fatalf("the room's tags were not stored: %v", r.Tags)
	}
	other := strings.Replace(room.ARN, "123456789012", "210987654321", 1)
	for _, tc := range []struct {
		name, arn string
		code      ivs.Code
		field     string
	}{
		{"room under ivs", strings.Replace(room.ARN, ":ivschat:", ":ivs:", 1), ivs.CodeValidation, "resourceArn"},
		{"not an ARN", "room", ivs.CodeValidation, "resourceArn"},
		{"another account's", other, ivs.CodeResourceNotFound, ""},
		{"deleted", strings.Replace(room.ARN, room.ID, "abcdABCDefgh", 1), ivs.CodeResourceNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := s.TagResource(ctx, tc.arn, map[string]string{"k": "v"})
			wantCode(t, err, tc.code, tc.field)
		})
	}
	wantCode(t, s.TagResource(ctx, room.ARN, nil), ivs.CodeValidation, "tags")
}
