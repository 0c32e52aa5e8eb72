package ivsrealtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/compose"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// fakeCompositor records what the service asks of the media side.
type fakeCompositor struct {
	mu      sync.Mutex
	started []ivsrealtime.Composition
	videos  [][]ivsrealtime.CompositionVideo
	stopped []string
	running map[string]bool
	err     error // Start's
}

func (f *fakeCompositor) Start(_ context.Context, c ivsrealtime.Composition, v []ivsrealtime.CompositionVideo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.started = append(f.started, c)
	f.videos = append(f.videos, v)
	if f.running == nil {
		f.running = map[string]bool{}
	}
	f.running[c.ARN] = true
	return nil
}

// Layout validates as the media side does (compose's rules).
func (f *fakeCompositor) Layout(raw json.RawMessage) (json.RawMessage, error) {
	c, err := compose.ParseConfiguration(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c.WithDefaults())
}

func (f *fakeCompositor) Stop(arn string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, arn)
	return f.running[arn]
}

const channelARN = "arn:aws:ivs:us-east-1:" + account + ":channel/abcdABCDefgh"

func channelDest(encoder string) []ivsrealtime.DestinationConfiguration {
	return []ivsrealtime.DestinationConfiguration{{Channel: &ivsrealtime.ChannelDestinationConfiguration{ChannelARN: channelARN,
		EncoderConfigurationARN: encoder}}}
}

// compositionNames are the event names of the IVS Composition State
// Change events emitted so far.
func compositionNames(h *hooks) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.emitted {
		if e.DetailType == ivs.EventTypeCompositionStateChange {
			out = append(out, e.Detail.EventName)
		}
	}
	return out
}

// StartComposition's rules, each naming the member; the refusal of an s3
// destination; the encoder configuration's video reaching the compositor.
func TestStartCompositionValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	fc := &fakeCompositor{}
	s.SetCompositor(fc)
	st := newStage(t, s)
	enc, err := s.CreateEncoderConfiguration(ctx, ivsrealtime.CreateEncoderConfigurationInput{Video: &ivsrealtime.VideoInput{
		Width: ptr(int32(640)), Height: ptr(int32(360)), Framerate: ptr(float32(15)), Bitrate: ptr(int32(900_000))}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{S3: &ivsrealtime.S3Storage{BucketName: "bucket"}})
	if err != nil {
		t.Fatal(err)
	}
	s3 := func(d ivsrealtime.S3DestinationConfiguration) []ivsrealtime.DestinationConfiguration {
		return []ivsrealtime.DestinationConfiguration{{S3: &d}}
	}
	for _, tc := range []struct {
		name  string
		in    ivsrealtime.StartCompositionInput
		code  ivs.Code
		field string
	}{
		{"no stage", ivsrealtime.StartCompositionInput{Destinations: channelDest("")}, ivs.CodeValidation, "stageArn"},
		{"bad stage arn", ivsrealtime.StartCompositionInput{StageARN: "stage", Destinations: channelDest("")}, ivs.CodeValidation, "stageArn"},
		{"unknown stage", ivsrealtime.StartCompositionInput{StageARN: st.ARN + "x", Destinations: channelDest("")}, ivs.CodeResourceNotFound, ""},
		{"no destinations", ivsrealtime.StartCompositionInput{StageARN: st.ARN}, ivs.CodeValidation, "destinations"},
		{"three destinations", ivsrealtime.StartCompositionInput{StageARN: st.ARN,
			Destinations: slices.Concat(channelDest(""), channelDest(""), channelDest(""))}, ivs.CodeValidation, "destinations"},
		{"two channels", ivsrealtime.StartCompositionInput{StageARN: st.ARN,
			Destinations: slices.Concat(channelDest(""), channelDest(""))}, ivs.CodeValidation, "destinations"},
		{"empty destination", ivsrealtime.StartCompositionInput{StageARN: st.ARN,
			Destinations: []ivsrealtime.DestinationConfiguration{{}}}, ivs.CodeValidation, "destinations[0]"},
		{"destination name", ivsrealtime.StartCompositionInput{StageARN: st.ARN,
			Destinations: []ivsrealtime.DestinationConfiguration{{Name: "a b", Channel: channelDest("")[0].Channel}}}, ivs.CodeValidation, "destinations[0].name"},
		{"channel arn", ivsrealtime.StartCompositionInput{StageARN: st.ARN,
			Destinations: []ivsrealtime.DestinationConfiguration{{Channel: &ivsrealtime.ChannelDestinationConfiguration{ChannelARN: "nope"}}}},
			ivs.CodeValidation, "destinations[0].channel.channelArn"},
		{"unknown encoder", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(enc.ARN + "x")}, ivs.CodeResourceNotFound, ""},
		{"token", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(""), IdempotencyToken: ptr("a b")},
			ivs.CodeValidation, "idempotencyToken"},
		{"tags", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(""), Tags: map[string]string{"aws:x": "y"}},
			ivs.CodeValidation, "tags"},
		{"layout gap", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(""),
			Layout: json.RawMessage(`{"grid":{"gridGap":-1}}`)}, ivs.CodeValidation, "layout.grid.gridGap"},
		{"layout type", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(""),
			Layout: json.RawMessage(`{"pip":{"pipOffset":"far"}}`)}, ivs.CodeValidation, "layout.pip.pipOffset"},
		{"s3 without encoder", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: s3(ivsrealtime.S3DestinationConfiguration{
			StorageConfigurationARN: sc.ARN})}, ivs.CodeValidation, "destinations[0].s3.encoderConfigurationArns"},
		{"s3 segment duration", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: s3(ivsrealtime.S3DestinationConfiguration{
			StorageConfigurationARN: sc.ARN, EncoderConfigurationARNs: []string{enc.ARN},
			RecordingConfiguration: &ivsrealtime.CompositionRecording{HLSConfiguration: &ivsrealtime.CompositionRecordingHLS{TargetSegmentDurationSeconds: ptr(int32(11))}}})},
			ivs.CodeValidation, "destinations[0].s3.recordingConfiguration.hlsConfiguration.targetSegmentDurationSeconds"},
		{"s3 thumbnail storage", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: s3(ivsrealtime.S3DestinationConfiguration{
			StorageConfigurationARN: sc.ARN, EncoderConfigurationARNs: []string{enc.ARN},
			ThumbnailConfigurations: []ivsrealtime.CompositionThumbnail{{Storage: []string{"ALL"}}}})},
			ivs.CodeValidation, "destinations[0].s3.thumbnailConfigurations[0].storage"},
		{"two s3", ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: slices.Concat(
			s3(ivsrealtime.S3DestinationConfiguration{StorageConfigurationARN: sc.ARN, EncoderConfigurationARNs: []string{enc.ARN}}),
			s3(ivsrealtime.S3DestinationConfiguration{StorageConfigurationARN: sc.ARN, EncoderConfigurationARNs: []string{enc.ARN}}))},
			ivs.CodeValidation, "destinations"},
	} {
		_, err := s.StartComposition(ctx, tc.in)
		if e, ok := ivs.AsError(err); !ok || e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %v (field %q), want %s naming %q", tc.name, err, fieldOf(err), tc.code, tc.field)
		}
	}
	if len(fc.started) != 0 {
		t.Fatalf("refused compositions reached the compositor: %+v", fc.started)
	}
	c, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(enc.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.videos) != 1 || fc.videos[0][0].Video != (ivsrealtime.Video{Width: 640, Height: 360, Framerate: 15, Bitrate: 900_000}) ||
		fc.videos[0][0].DestinationID != c.Destinations[0].ID {
		t.Fatalf("the compositor got %+v", fc.videos)
	}
	// A channel and an s3 destination: the recording's bucket, prefix
	// (<stage id>/<composition id>/<destination id>/composite), segments
	// and thumbnails reach the compositor.
	secs := int32(4)
	both, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: slices.Concat(channelDest(""),
		s3(ivsrealtime.S3DestinationConfiguration{StorageConfigurationARN: sc.ARN, EncoderConfigurationARNs: []string{enc.ARN},
			RecordingConfiguration:  &ivsrealtime.CompositionRecording{HLSConfiguration: &ivsrealtime.CompositionRecordingHLS{TargetSegmentDurationSeconds: &secs}},
			ThumbnailConfigurations: []ivsrealtime.CompositionThumbnail{{TargetIntervalSeconds: ptr(int32(10)), Storage: []string{"LATEST"}}}}))})
	if err != nil {
		t.Fatal(err)
	}
	stageID := st.ARN[strings.LastIndexByte(st.ARN, '/')+1:]
	d := both.Destinations[1]
	if d.Detail == nil || d.Detail.S3 == nil || d.Detail.S3.RecordingPrefix != stageID+"/"+both.ID+"/"+d.ID+"/composite" || both.Destinations[0].Detail != nil {
		t.Fatalf("destinations %+v", both.Destinations)
	}
	got := fc.videos[len(fc.videos)-1]
	if tg := got[1].S3; tg == nil || tg.Bucket != "bucket" || tg.Prefix != d.Detail.S3.RecordingPrefix || tg.SegmentDuration != 4*time.Second ||
		tg.ThumbnailInterval != 10*time.Second || tg.Sequential || !tg.Latest || got[1].Video.Width != 640 || got[0].S3 != nil {
		t.Fatalf("the compositor got %+v %+v", got[0], got[1].S3)
	}
	if err := s.DeleteStorageConfiguration(ctx, sc.ARN); !isCode(err, ivs.CodeConflict) {
		t.Fatalf("deleting a storage configuration in use: %v", err)
	}

	var layout compose.Configuration
	if err := json.Unmarshal(c.Layout, &layout); err != nil {
		t.Fatal(err)
	}
	if g := layout.Grid; g == nil || *g.GridGap != 2 || g.VideoAspectRatio != compose.AspectVideo {
		t.Fatalf("the layout's defaults: %s", c.Layout)
	}
}

func fieldOf(err error) string {
	if e, ok := ivs.AsError(err); ok {
		return e.Field
	}
	return ""
}

// A composition's life: STARTING, ACTIVE with its destination, STOPPING
// then STOPPED, each change an event; the idempotency token; the list's
// filters and pages; the encoder configuration in use; deletion some time
// after the end.
func TestCompositionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	s, h := newServiceOn(t, openStore(t), clock)
	fc := &fakeCompositor{}
	s.SetCompositor(fc)
	st, other := newStage(t, s), newStage(t, s)
	enc, err := s.CreateEncoderConfiguration(ctx, ivsrealtime.CreateEncoderConfigurationInput{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(enc.ARN),
		IdempotencyToken: ptr("once"), Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != ivsrealtime.CompositionStarting || c.Destinations[0].State != ivsrealtime.CompositionStarting || c.StartTime == nil {
		t.Fatalf("started %+v", c)
	}
	again, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest(enc.ARN),
		IdempotencyToken: ptr("once")})
	if err != nil || again.ARN != c.ARN || len(fc.started) != 1 {
		t.Fatalf("the same token: %v %s, compositor %d", err, again.ARN, len(fc.started))
	}
	if err := s.DeleteEncoderConfiguration(ctx, enc.ARN); !isCode(err, ivs.CodeConflict) {
		t.Fatalf("deleting an encoder configuration in use: %v", err)
	}
	// The compositor fails to start one: nothing is kept.
	fc.err = &ivs.Error{Code: ivs.CodeConflict, Message: "channel live"}
	if _, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: other.ARN, Destinations: channelDest("")}); !isCode(err, ivs.CodeConflict) {
		t.Fatalf("compositor refusal: %v", err)
	}
	fc.err = nil
	c2, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: other.ARN, Destinations: channelDest("")})
	if err != nil {
		t.Fatal(err)
	}

	// The compositor reports.
	dest := c.Destinations[0].ID
	for _, step := range []struct{ dest, state string }{{"", "ACTIVE"}, {dest, "ACTIVE"}, {dest, "RECONNECTING"}, {dest, "ACTIVE"}} {
		advance(time.Second)
		var err error
		if step.dest == "" {
			err = s.SetCompositionState(ctx, c.ARN, step.state, "")
		} else {
			err = s.SetDestinationState(ctx, c.ARN, step.dest, step.state, "")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	g, err := s.GetComposition(ctx, c.ARN)
	if err != nil || g.State != "ACTIVE" || g.Destinations[0].State != "ACTIVE" || g.Destinations[0].StartTime == nil ||
		!g.Destinations[0].StartTime.Equal(c.StartTime.Add(2*time.Second)) || g.Tags["k"] != "v" {
		t.Fatalf("GetComposition: %v %+v", err, g)
	}

	// List: filters and pages.
	list := func(in ivsrealtime.ListCompositionsInput) ([]string, string) {
		t.Helper()
		cs, next, err := s.ListCompositions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var arns []string
		for _, c := range cs {
			arns = append(arns, c.ARN)
		}
		return arns, next
	}
	if got, _ := list(ivsrealtime.ListCompositionsInput{FilterByStageARN: st.ARN}); !slices.Equal(got, []string{c.ARN}) {
		t.Fatalf("filterByStageArn: %v", got)
	}
	if got, _ := list(ivsrealtime.ListCompositionsInput{FilterByEncoderConfigurationARN: enc.ARN}); !slices.Equal(got, []string{c.ARN}) {
		t.Fatalf("filterByEncoderConfigurationArn: %v", got)
	}
	first, next := list(ivsrealtime.ListCompositionsInput{MaxResults: ptr(int32(1))})
	second, last := list(ivsrealtime.ListCompositionsInput{MaxResults: ptr(int32(1)), NextToken: next})
	if len(first) != 1 || len(second) != 1 || next == "" || last != "" || first[0] == second[0] {
		t.Fatalf("pages %v %q %v %q", first, next, second, last)
	}
	if _, _, err := s.ListCompositions(ctx, ivsrealtime.ListCompositionsInput{MaxResults: ptr(int32(101))}); !isCode(err, ivs.CodeValidation) {
		t.Fatalf("maxResults 101: %v", err)
	}

	// Stop: STOPPING, the compositor told; it reports STOPPED.
	if err := s.StopComposition(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetComposition(ctx, c.ARN); got.State != "STOPPING" || !slices.Contains(fc.stopped, c.ARN) {
		t.Fatalf("after StopComposition: %s, compositor stopped %v", got.State, fc.stopped)
	}
	advance(time.Second)
	if err := s.SetDestinationState(ctx, c.ARN, dest, "STOPPED", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCompositionState(ctx, c.ARN, "STOPPED", ""); err != nil {
		t.Fatal(err)
	}
	// Reports after the end change nothing.
	if err := s.SetCompositionState(ctx, c.ARN, "ACTIVE", ""); err != nil {
		t.Fatal(err)
	}
	g, err = s.GetComposition(ctx, c.ARN)
	if err != nil || g.State != "STOPPED" || g.EndTime == nil || g.Destinations[0].EndTime == nil {
		t.Fatalf("stopped: %v %+v", err, g)
	}
	want := []string{"Session Start", "Destination Start", "Destination Reconnect", "Destination Start", "Destination End", "Session End"}
	if got := compositionNames(h); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	h.mu.Lock()
	for _, e := range h.emitted {
		if e.DetailType == ivs.EventTypeCompositionStateChange && (!slices.Equal(e.Resources, []string{c.ARN, st.ARN}) || e.Detail.StageARN != st.ARN) {
			t.Errorf("event %+v", e)
		}
		if strings.HasPrefix(e.Detail.EventName, "Destination") && (e.Detail.DestinationID != dest || e.Detail.ChannelARN != channelARN) {
			t.Errorf("destination event %+v", e.Detail)
		}
	}
	h.mu.Unlock()
	// The encoder configuration is free again; the token may start anew
	// once the composition is gone.
	if err := s.StopComposition(ctx, c.ARN); err != nil {
		t.Fatalf("stopping a stopped composition: %v", err)
	}
	// A composition that no compositor runs (the server restarted) stops
	// at once.
	fc.running[c2.ARN] = false
	if err := s.StopComposition(ctx, c2.ARN); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.GetComposition(ctx, c2.ARN); g.State != "STOPPED" || g.Destinations[0].State != "STOPPED" {
		t.Fatalf("stop without a run: %+v", g)
	}
	if err := s.DeleteEncoderConfiguration(ctx, enc.ARN); err != nil {
		t.Fatalf("deleting the encoder configuration after the end: %v", err)
	}
	advance(ivsrealtime.CompositionRetention + time.Second)
	if _, err := s.GetComposition(ctx, c.ARN); !isCode(err, ivs.CodeResourceNotFound) {
		t.Fatalf("GetComposition after the retention: %v", err)
	}
	if got, _ := list(ivsrealtime.ListCompositionsInput{}); len(got) != 0 {
		t.Fatalf("listed after the retention: %v", got)
	}
}

func isCode(err error, code ivs.Code) bool {
	var e *ivs.Error
	return errors.As(err, &e) && e.Code == code
}

// Compositions that ran when the server stopped run again; one the
// compositor cannot start fails.
func TestResumeCompositions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	s, _ := newServiceOn(t, store, nil)
	fc := &fakeCompositor{}
	s.SetCompositor(fc)
	st := newStage(t, s)
	a, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest("")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: channelDest("")})
	if err != nil {
		t.Fatal(err)
	}
	// One with a recording: the recording does not resume, the channel does.
	enc, err := s.CreateEncoderConfiguration(ctx, ivsrealtime.CreateEncoderConfigurationInput{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{S3: &ivsrealtime.S3Storage{BucketName: "bucket"}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.StartComposition(ctx, ivsrealtime.StartCompositionInput{StageARN: st.ARN, Destinations: append(channelDest(""),
		ivsrealtime.DestinationConfiguration{S3: &ivsrealtime.S3DestinationConfiguration{StorageConfigurationARN: sc.ARN,
			EncoderConfigurationARNs: []string{enc.ARN}}})})
	if err != nil {
		t.Fatal(err)
	}
	// A new server on the same store.
	s2, h2 := newServiceOn(t, store, nil)
	fc2 := &fakeCompositor{}
	s2.SetCompositor(&failFor{fakeCompositor: fc2, arn: b.ARN})
	if err := s2.ResumeCompositions(ctx); err != nil {
		t.Fatal(err)
	}
	resumed := map[string][]ivsrealtime.CompositionVideo{}
	for i, c := range fc2.started {
		resumed[c.ARN] = fc2.videos[i]
	}
	if len(resumed) != 2 || resumed[a.ARN] == nil || resumed[rec.ARN] == nil {
		t.Fatalf("resumed %+v", fc2.started)
	}
	if v := resumed[rec.ARN]; len(v) != 1 || v[0].DestinationID != rec.Destinations[0].ID {
		t.Fatalf("the resumed recording composition runs %+v", v)
	}
	if g, _ := s2.GetComposition(ctx, rec.ARN); g.Destinations[1].State != "FAILED" || g.Destinations[0].State == "FAILED" {
		t.Fatalf("after the restart: %+v", g.Destinations)
	}
	if g, _ := s2.GetComposition(ctx, b.ARN); g.State != "FAILED" || !slices.Contains(compositionNames(h2), "Session Failure") {
		t.Fatalf("the one that could not resume: %+v, events %v", g, compositionNames(h2))
	}
}

// failFor refuses to start one composition.
type failFor struct {
	*fakeCompositor
	arn string
}

func (f *failFor) Start(ctx context.Context, c ivsrealtime.Composition, v []ivsrealtime.CompositionVideo) error {
	if c.ARN == f.arn {
		return errors.New("channel busy")
	}
	return f.fakeCompositor.Start(ctx, c, v)
}
