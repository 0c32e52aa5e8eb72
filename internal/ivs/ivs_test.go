package ivs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/sqlite"
)

func newService(t testing.TB) *ivs.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, created, err := ivs.EnsureAccount(context.Background(), st, "", "")
	if err != nil || !created {
		t.Fatalf("EnsureAccount: %v %v", created, err)
	}
	return serviceOn(st, a, ivs.Config{})
}

// serviceOn returns a service of account a on st, with cfg's settings.
func serviceOn(st *sqlite.Store, a ivs.Account, cfg ivs.Config) *ivs.Service {
	cfg.Region, cfg.AccountID, cfg.Stores = "us-east-1", a.ID, ivs.StoresOf(st)
	return ivs.NewService(cfg)
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

func TestCreateChannelDefaultsAndIDs(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c, k, err := s.CreateChannel(context.Background(), ivs.CreateChannelInput{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != ivs.TypeStandard || c.LatencyMode != ivs.LatencyLow || c.ContainerFormat != ivs.ContainerTS || c.Preset != "" {
		t.Errorf("defaults = %+v", c)
	}
	if !strings.HasPrefix(c.ARN, "arn:aws:ivs:us-east-1:"+s.AccountID()+":channel/") || len(c.ID) != 12 {
		t.Errorf("arn %s id %s", c.ARN, c.ID)
	}
	v := k.Value.Reveal()
	parts := strings.Split(v, "_")
	if len(parts) != 4 || parts[0] != "sk" || parts[1] != "us-east-1" || len(parts[2]) != 12 || len(parts[3]) != 31 {
		t.Errorf("stream key value %q", v)
	}
	if k.ChannelARN != c.ARN || !strings.Contains(k.ARN, ":stream-key/") {
		t.Errorf("key = %+v", k)
	}
	if k.Value.String() != "[REDACTED]" {
		t.Errorf("a Secret prints as %q", k.Value.String())
	}
	if sid := ivs.NewStreamID(); len(sid) != 26 || !strings.HasPrefix(sid, "st-") {
		t.Errorf("stream id %q", sid)
	}
}

func TestChannelValidation(t *testing.T) {
	t.Parallel()
	s := newService(t)
	other := "arn:aws:ivs:us-east-1:" + s.AccountID()
	tests := []struct {
		name  string
		in    ivs.CreateChannelInput
		code  ivs.Code
		field string
	}{
		{"bad name", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Name: ptr("a b")}}, ivs.CodeValidation, "name"},
		{"long name", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Name: ptr(strings.Repeat("a", 129))}}, ivs.CodeValidation, "name"},
		{"bad latency", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{LatencyMode: ptr("FAST")}}, ivs.CodeValidation, "latencyMode"},
		{"bad type", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Type: ptr("PREMIUM")}}, ivs.CodeValidation, "type"},
		{"preset on basic", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Type: ptr("BASIC"), Preset: ptr(ivs.PresetHigher)}}, ivs.CodeValidation, "preset"},
		{"bad container", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{ContainerFormat: ptr("MKV")}}, ivs.CodeValidation, "containerFormat"},
		{"multitrack on basic", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Type: ptr("BASIC"),
			MultitrackInputConfiguration: &ivs.MultitrackInput{Enabled: ptr(true)}}}, ivs.CodeValidation, "multitrackInputConfiguration.enabled"},
		{"multitrack needs fmp4", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Type: ptr("STANDARD"),
			MultitrackInputConfiguration: &ivs.MultitrackInput{Enabled: ptr(true)}}}, ivs.CodeValidation, "containerFormat"},
		{"bad recording arn", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{RecordingConfigurationARN: ptr("nope")}}, ivs.CodeValidation, "recordingConfigurationArn"},
		{"unknown recording config", ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{RecordingConfigurationARN: ptr(other + ":recording-configuration/abcdABCDefgh")}}, ivs.CodeResourceNotFound, ""},
		{"too many tags", ivs.CreateChannelInput{Tags: manyTags(51)}, ivs.CodeValidation, "tags"},
		{"bad tag", ivs.CreateChannelInput{Tags: map[string]string{"a": "b\x00"}}, ivs.CodeValidation, "tags"},
		{"aws tag", ivs.CreateChannelInput{Tags: map[string]string{"aws:x": "b"}}, ivs.CodeValidation, "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := s.CreateChannel(context.Background(), tt.in)
			wantCode(t, err, tt.code, tt.field)
		})
	}
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m["k"+strings.Repeat("x", i)] = "v"
	}
	return m
}

func TestUpdateChannelSemantics(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := context.Background()
	c, _, err := s.CreateChannel(ctx, ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{
		Name: ptr("a"), Type: ptr(ivs.TypeAdvancedHD), Authorized: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Preset != ivs.PresetHigher {
		t.Fatalf("advanced channel preset %q, want the default", c.Preset)
	}
	// Absent fields are unchanged; a type change without a preset resets it.
	u, err := s.UpdateChannel(ctx, ivs.UpdateChannelInput{ARN: c.ARN, ChannelInput: ivs.ChannelInput{Type: ptr(ivs.TypeStandard)}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "a" || !u.Authorized || u.Preset != "" || u.Type != ivs.TypeStandard {
		t.Fatalf("after update: %+v", u)
	}
	u, err = s.UpdateChannel(ctx, ivs.UpdateChannelInput{ARN: c.ARN, ChannelInput: ivs.ChannelInput{Authorized: ptr(false)}})
	if err != nil || u.Authorized {
		t.Fatalf("authorized=false: %+v %v", u, err)
	}
	// A live channel can be neither updated nor deleted.
	ss, err := s.StartStreamSession(ctx, u, time.Now(), ivs.IngestConfigurations{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateChannel(ctx, ivs.UpdateChannelInput{ARN: c.ARN, ChannelInput: ivs.ChannelInput{Name: ptr("b")}})
	wantCode(t, err, ivs.CodeConflict, "")
	wantCode(t, s.DeleteChannel(ctx, c.ARN), ivs.CodeConflict, "")
	if err := s.EndStreamSession(ctx, u, ss.StreamID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteChannel(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetChannel(ctx, c.ARN)
	wantCode(t, err, ivs.CodeResourceNotFound, "")
}

func TestARNs(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := context.Background()
	tests := []struct {
		arn  string
		code ivs.Code
	}{
		{"", ivs.CodeValidation},
		{"arn:aws:ivs:us-east-1:123:channel", ivs.CodeValidation},
		{"arn:aws:s3:::bucket", ivs.CodeValidation},
		{"arn:aws:ivs:us-east-1:" + s.AccountID() + ":stream-key/abcdABCDefgh", ivs.CodeValidation}, // wrong kind
		{"arn:aws:ivs:us-east-1:" + s.AccountID() + ":channel/abcdABCDefgh", ivs.CodeResourceNotFound},
		{"arn:aws:ivs:eu-west-1:" + s.AccountID() + ":channel/abcdABCDefgh", ivs.CodeResourceNotFound}, // another region
		{"arn:aws:ivs:us-east-1:000000000000:channel/abcdABCDefgh", ivs.CodeResourceNotFound},          // another account
	}
	for _, tt := range tests {
		_, err := s.GetChannel(ctx, tt.arn)
		wantCode(t, err, tt.code, "")
	}
}

func TestListChannelsPages(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if _, _, err := s.CreateChannel(ctx, ivs.CreateChannelInput{ChannelInput: ivs.ChannelInput{Name: ptr(n)}}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	tok := ""
	pages := 0
	for {
		cs, next, err := s.ListChannels(ctx, ivs.ListChannelsInput{NextToken: tok, MaxResults: ptr[int32](2)})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range cs {
			seen[c.Name] = true
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("saw %v in %d pages", seen, pages)
	}
	_, _, err := s.ListChannels(ctx, ivs.ListChannelsInput{MaxResults: ptr[int32](101)})
	wantCode(t, err, ivs.CodeValidation, "maxResults")
	_, _, err = s.ListChannels(ctx, ivs.ListChannelsInput{NextToken: "!!"})
	wantCode(t, err, ivs.CodeValidation, "nextToken")
	_, _, err = s.ListChannels(ctx, ivs.ListChannelsInput{FilterByName: "a", FilterByRecordingConfigurationARN: "x"})
	wantCode(t, err, ivs.CodeConflict, "")
	cs, _, err := s.ListChannels(ctx, ivs.ListChannelsInput{FilterByName: "c"})
	if err != nil || len(cs) != 1 || cs[0].Name != "c" {
		t.Fatalf("filter by name: %v %v", cs, err)
	}
}

func TestStreamKeysAndResolve(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := context.Background()
	c, k, err := s.CreateChannel(ctx, ivs.CreateChannelInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateStreamKey(ctx, c.ARN, nil)
	wantCode(t, err, ivs.CodeServiceQuotaExceeded, "")
	got, err := s.ResolveStreamKey(ctx, k.Value.Reveal())
	if err != nil || got.ARN != c.ARN {
		t.Fatalf("resolve: %v %v", got.ARN, err)
	}
	for _, bad := range []string{"", "sk_nope", strings.Repeat("x", 1000)} {
		if _, err := s.ResolveStreamKey(ctx, bad); !errors.Is(err, ivs.ErrUnknownStreamKey) {
			t.Fatalf("resolve %q: %v", bad, err)
		}
	}
	if err := s.DeleteStreamKey(ctx, k.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveStreamKey(ctx, k.Value.Reveal()); !errors.Is(err, ivs.ErrUnknownStreamKey) {
		t.Fatalf("deleted key still resolves: %v", err)
	}
	k2, err := s.CreateStreamKey(ctx, c.ARN, map[string]string{"team": "a"})
	if err != nil || k2.Tags["team"] != "a" {
		t.Fatalf("new key: %+v %v", k2, err)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := context.Background()
	c, k, err := s.CreateChannel(ctx, ivs.CreateChannelInput{Tags: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range []string{c.ARN, k.ARN} {
		if err := s.TagResource(ctx, arn, map[string]string{"b": "2"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UntagResource(ctx, arn, []string{"a", "missing"}); err != nil {
			t.Fatal(err)
		}
		tags, err := s.ListTagsForResource(ctx, arn)
		if err != nil || len(tags) != 1 || tags["b"] != "2" {
			t.Fatalf("%s tags %v %v", arn, tags, err)
		}
	}
	wantCode(t, s.TagResource(ctx, c.ARN, nil), ivs.CodeValidation, "tags")
	wantCode(t, s.UntagResource(ctx, c.ARN, nil), ivs.CodeValidation, "tagKeys")
	wantCode(t, s.TagResource(ctx, c.ARN, manyTags(50)), ivs.CodeValidation, "tags")
	_, err = s.ListTagsForResource(ctx, "arn:aws:ivs:us-east-1:"+s.AccountID()+":recording-configuration/x")
	wantCode(t, err, ivs.CodeResourceNotFound, "")
}

func FuzzParseARN(f *testing.F) {
	for _, s := range []string{"arn:aws:ivs:us-east-1:123456789012:channel/abcdABCDefgh", "", "arn:aws:ivs::::/", "arn:aws:ivs:a:1:b/c-d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ivs.ParseARN("arn", s)
		if err != nil {
			if _, ok := ivs.AsError(err); !ok {
				t.Fatalf("error %v is not an ivs.Error", err)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("round trip %q -> %q", s, a.String())
		}
	})
}

func TestSessionStats(t *testing.T) {
	t.Parallel()
	var s ivs.SessionStats
	for _, p := range []ivs.MetricPoint{
		{VideoBitrate: 2000, Framerate: 30, KeyframeInterval: 0, Viewers: 1},
		{VideoBitrate: 1000, Framerate: 29, KeyframeInterval: 2, Viewers: 5},
		{VideoBitrate: 3000, Framerate: 31, KeyframeInterval: 4, Viewers: 0},
	} {
		s.Add(p)
	}
	want := ivs.SessionStats{
		Points:           3,
		VideoBitrate:     ivs.Aggregate{Min: 1000, Avg: 2000, Max: 3000, Samples: 3},
		Framerate:        ivs.Aggregate{Min: 29, Avg: 30, Max: 31, Samples: 3},
		AudioBitrate:     ivs.Aggregate{Samples: 3},
		KeyframeInterval: ivs.Aggregate{Min: 2, Avg: 3, Max: 4, Samples: 2}, // 0 is "not known yet"
		Viewers:          ivs.Aggregate{Min: 0, Avg: 2, Max: 5, Samples: 3},
	}
	if s != want {
		t.Fatalf("stats\n got %+v\nwant %+v", s, want)
	}
}
