package ivsrealtime_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// ingestService is a service whose media side says which configurations
// have an encoder (active) and hears of deletions.
type ingestService struct {
	*ivsrealtime.Service
	mu      sync.Mutex
	active  map[string]bool
	deleted []string
}

func newIngestService(t *testing.T) *ingestService {
	t.Helper()
	is := &ingestService{active: map[string]bool{}}
	st := openStore(t)
	is.Service = ivsrealtime.New(ivsrealtime.Config{Region: "us-east-1", AccountID: account, Docs: st, Sessions: st,
		Hooks: ivsrealtime.Hooks{
			IngestActive: func(id string) bool {
				is.mu.Lock()
				defer is.mu.Unlock()
				return is.active[id]
			},
			IngestDeleted: func(id string) {
				is.mu.Lock()
				defer is.mu.Unlock()
				is.deleted = append(is.deleted, id)
			},
		}})
	return is
}

func (is *ingestService) setActive(id string, on bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.active[id] = on
}

func code(err error) string {
	if e, ok := ivs.AsError(err); ok {
		return string(e.Code) + ":" + e.Field
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// Each rule of CreateIngestConfiguration's input refuses with a
// ValidationException naming the member.
func TestIngestValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newIngestService(t)
	st := newStage(t, s.Service)
	create := func(in ivsrealtime.CreateIngestConfigurationInput) error {
		_, err := s.CreateIngestConfiguration(ctx, in)
		return err
	}
	missing := strings.Replace(st.ARN, st.ID, "abcdABCDefgh", 1)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no protocol", create(ivsrealtime.CreateIngestConfigurationInput{}), "ValidationException:ingestProtocol"},
		{"unknown protocol", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("SRT")}), "ValidationException:ingestProtocol"},
		{"RTMP without insecureIngest", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMP")}),
			"ValidationException:insecureIngest"},
		{"RTMP with insecureIngest false", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMP"),
			InsecureIngest: ptr(false)}), "ValidationException:insecureIngest"},
		{"name", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"), Name: ptr("a b")}), "ValidationException:name"},
		{"userId", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"), UserID: ptr(strings.Repeat("u", 129))}),
			"ValidationException:userId"},
		{"attributes", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"),
			Attributes: map[string]string{"k": strings.Repeat("v", 1024)}}), "ValidationException:attributes"},
		{"tags", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"), Tags: map[string]string{"aws:x": "y"}}),
			"ValidationException:tags"},
		{"not a stage ARN", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"), StageARN: ptr("arn:x")}),
			"ValidationException:stageArn"},
		{"a stage that does not exist", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"), StageARN: &missing}),
			"ValidationException:stageArn"},
		{"RTMP with insecureIngest", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMP"), InsecureIngest: ptr(true)}), ""},
		{"RTMPS on no stage", create(ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMPS"), StageARN: ptr("")}), ""},
	} {
		if got := code(tc.err); got != tc.want {
			t.Errorf("%s: %s, want %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		in   ivsrealtime.ListIngestConfigurationsInput
	}{
		{"two filters", ivsrealtime.ListIngestConfigurationsInput{FilterByStageARN: &st.ARN, FilterByState: ptr("ACTIVE")}},
		{"unknown state", ivsrealtime.ListIngestConfigurationsInput{FilterByState: ptr("LIVE")}},
		{"maxResults", ivsrealtime.ListIngestConfigurationsInput{MaxResults: ptr(int32(101))}},
		{"stage filter", ivsrealtime.ListIngestConfigurationsInput{FilterByStageARN: ptr("stage")}},
	} {
		if _, _, err := s.ListIngestConfigurations(ctx, tc.in); !strings.HasPrefix(code(err), "ValidationException") {
			t.Errorf("list with %s: %v", tc.name, err)
		}
	}
}

// A configuration has its key and participant from creation; Get, Update,
// List and Delete follow IVS: an active one may not change or go without
// force, DeleteStage and DisconnectParticipant let go of the stage.
func TestIngestConfigurationLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newIngestService(t)
	st := newStage(t, s.Service)
	c, err := s.CreateIngestConfiguration(ctx, ivsrealtime.CreateIngestConfigurationInput{Name: ptr("obs"), StageARN: &st.ARN,
		UserID: ptr("encoder"), Attributes: map[string]string{"role": "host"}, IngestProtocol: ptr("RTMPS"), Tags: map[string]string{"t": "1"}})
	must(t, err)
	k, err := ivsrealtime.ParseStageStreamKey(c.StreamKey)
	must(t, err)
	if k.Account != account || k.Region != "us-east-1" || k.ConfigID != c.ID || len(k.Secret) != 43 || len(c.ParticipantID) != 12 ||
		c.State != "INACTIVE" || c.StageARN != st.ARN || c.RedundantIngest || c.RedundantIngestCredentials != nil {
		t.Fatalf("created %+v (key %+v)", c, k)
	}
	got, err := s.GetIngestConfiguration(ctx, c.ARN)
	must(t, err)
	if got.StreamKey != c.StreamKey || got.ParticipantID != c.ParticipantID || got.Attributes["role"] != "host" || got.UserID != "encoder" {
		t.Fatalf("got %+v", got)
	}

	// The key resolves to the configuration's participant on its stage;
	// another secret, account or a malformed key to nothing.
	p, err := s.ResolveIngestKey(ctx, c.StreamKey)
	must(t, err)
	if p.ParticipantID != c.ParticipantID || p.StageID != st.ID || p.Config.ARN != c.ARN {
		t.Fatalf("resolved %+v", p)
	}
	for _, bad := range []string{c.StreamKey + "x", strings.Replace(c.StreamKey, account, "999999999999", 1), "rt_", "sk_us-east-1_x",
		strings.Replace(c.StreamKey, c.ID, "abcdABCDefgh", 1)} {
		if _, err := s.ResolveIngestKey(ctx, bad); !errors.Is(err, ivsrealtime.ErrUnknownIngestKey) {
			t.Errorf("key %q: %v", bad, err)
		}
	}

	// Redundant ingest adds a second credential, its own participant.
	up, err := s.UpdateIngestConfiguration(ctx, ivsrealtime.UpdateIngestConfigurationInput{ARN: c.ARN, RedundantIngest: ptr(true)})
	must(t, err)
	if !up.RedundantIngest || len(up.RedundantIngestCredentials) != 1 || up.RedundantIngestCredentials[0].ParticipantID == c.ParticipantID {
		t.Fatalf("redundant: %+v", up)
	}
	p2, err := s.ResolveIngestKey(ctx, up.RedundantIngestCredentials[0].StreamKey)
	must(t, err)
	if p2.ParticipantID != up.RedundantIngestCredentials[0].ParticipantID {
		t.Fatalf("the redundant key resolved to %+v", p2)
	}

	// Active: no change, no delete without force.
	s.setActive(c.ID, true)
	if got, err := s.GetIngestConfiguration(ctx, c.ARN); err != nil || got.State != "ACTIVE" {
		t.Fatalf("active: %+v %v", got, err)
	}
	other := newStage(t, s.Service)
	if _, err := s.UpdateIngestConfiguration(ctx, ivsrealtime.UpdateIngestConfigurationInput{ARN: c.ARN, StageARN: &other.ARN}); code(err) != "ConflictException:" {
		t.Fatalf("moving an active configuration: %v", err)
	}
	if err := s.DeleteIngestConfiguration(ctx, ivsrealtime.DeleteIngestConfigurationInput{ARN: c.ARN}); code(err) != "ConflictException:" {
		t.Fatalf("deleting an active configuration: %v", err)
	}
	list, _, err := s.ListIngestConfigurations(ctx, ivsrealtime.ListIngestConfigurationsInput{FilterByState: ptr("ACTIVE")})
	must(t, err)
	if len(list) != 1 || list[0].ARN != c.ARN {
		t.Fatalf("active ones: %+v", list)
	}
	s.setActive(c.ID, false)
	if _, err := s.UpdateIngestConfiguration(ctx, ivsrealtime.UpdateIngestConfigurationInput{ARN: c.ARN, StageARN: ptr(strings.Replace(other.ARN, other.ID, "abcdABCDefgh", 1))}); code(err) != "ResourceNotFoundException:" {
		t.Fatalf("moving to a missing stage: %v", err)
	}
	moved, err := s.UpdateIngestConfiguration(ctx, ivsrealtime.UpdateIngestConfigurationInput{ARN: c.ARN, StageARN: &other.ARN})
	must(t, err)
	if moved.StageARN != other.ARN || !moved.RedundantIngest {
		t.Fatalf("moved %+v", moved)
	}

	// Filters and pages.
	d, err := s.CreateIngestConfiguration(ctx, ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: ptr("RTMP"), InsecureIngest: ptr(true),
		StageARN: &st.ARN})
	must(t, err)
	list, _, err = s.ListIngestConfigurations(ctx, ivsrealtime.ListIngestConfigurationsInput{FilterByStageARN: &st.ARN})
	must(t, err)
	if len(list) != 1 || list[0].ARN != d.ARN {
		t.Fatalf("on %s: %+v", st.ARN, list)
	}
	first, next, err := s.ListIngestConfigurations(ctx, ivsrealtime.ListIngestConfigurationsInput{MaxResults: ptr(int32(1))})
	must(t, err)
	rest, last, err := s.ListIngestConfigurations(ctx, ivsrealtime.ListIngestConfigurationsInput{NextToken: next})
	must(t, err)
	if len(first) != 1 || next == "" || len(rest) != 1 || last != "" || first[0].ARN == rest[0].ARN {
		t.Fatalf("pages %+v %q %+v %q", first, next, rest, last)
	}

	// DeleteStage lets go of it; the key then names no stage.
	must(t, s.DeleteStage(ctx, st.ARN))
	if got, err := s.GetIngestConfiguration(ctx, d.ARN); err != nil || got.StageARN != "" {
		t.Fatalf("after DeleteStage: %+v %v", got, err)
	}
	if _, err := s.ResolveIngestKey(ctx, d.StreamKey); !errors.Is(err, ivsrealtime.ErrIngestNoStage) {
		t.Fatalf("the key of a configuration on no stage: %v", err)
	}

	// Tags go through the shared operations.
	must(t, s.TagResource(ctx, c.ARN, map[string]string{"u": "2"}))
	if tags, err := s.ListTagsForResource(ctx, c.ARN); err != nil || tags["t"] != "1" || tags["u"] != "2" {
		t.Fatalf("tags %v %v", tags, err)
	}

	// Forced, it goes and the media side hears of it.
	s.setActive(c.ID, true)
	must(t, s.DeleteIngestConfiguration(ctx, ivsrealtime.DeleteIngestConfigurationInput{ARN: c.ARN, Force: ptr(true)}))
	if _, err := s.GetIngestConfiguration(ctx, c.ARN); code(err) != "ResourceNotFoundException:" {
		t.Fatalf("after delete: %v", err)
	}
	s.mu.Lock()
	if len(s.deleted) != 1 || s.deleted[0] != c.ID {
		t.Errorf("deleted hook: %v", s.deleted)
	}
	s.mu.Unlock()
	if _, err := s.ResolveIngestKey(ctx, c.StreamKey); !errors.Is(err, ivsrealtime.ErrUnknownIngestKey) {
		t.Fatalf("the key of a deleted configuration: %v", err)
	}
}

// The encoder joins as the configuration's participant, with its protocol
// and ARN; a refusal before its join is a visit with a PUBLISH_ERROR;
// DisconnectParticipant lets go of the stage.
func TestIngestParticipant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newIngestService(t)
	st := newStage(t, s.Service)
	c, err := s.CreateIngestConfiguration(ctx, ivsrealtime.CreateIngestConfigurationInput{StageARN: &st.ARN, UserID: ptr("enc"),
		IngestProtocol: ptr("RTMPS")})
	must(t, err)
	p, err := s.ResolveIngestKey(ctx, c.StreamKey)
	must(t, err)

	must(t, s.IngestRefused(ctx, p, "INVALID_PROTOCOL", "RTMP"))
	st, err = s.GetStage(ctx, st.ARN)
	must(t, err)
	if st.ActiveSessionID != "" {
		t.Fatalf("a refused encoder's visit left the session open")
	}
	sessions, _, err := s.ListStageSessions(ctx, ivsrealtime.ListStageSessionsInput{StageARN: st.ARN})
	must(t, err)
	if len(sessions) != 1 {
		t.Fatalf("sessions %+v", sessions)
	}
	if got := strings.Join(events(t, s.Service, st, sessions[0].SessionID, c.ParticipantID), " "); got != "JOINED PUBLISH_ERROR:INVALID_PROTOCOL LEFT" {
		t.Fatalf("events of a refused encoder: %s", got)
	}

	claims := ivsrealtime.ParticipantClaims{StageID: st.ID, StageARN: st.ARN, ParticipantID: c.ParticipantID, UserID: "enc", Publish: true}
	sid, err := s.Joined(ctx, claims, ivsrealtime.ClientInfo{Protocol: "RTMPS"})
	must(t, err)
	must(t, s.Published(ctx, st.ID, c.ParticipantID, true))
	must(t, s.IngestRefused(ctx, p, "REUSE_OF_STREAM_KEY", "RTMPS"))
	part, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: c.ParticipantID})
	must(t, err)
	if part.Protocol != "RTMPS" || part.IngestConfigurationARN != c.ARN || part.UserID != "enc" || part.State != "CONNECTED" || !part.Published {
		t.Fatalf("participant %+v", part)
	}
	if got := strings.Join(events(t, s.Service, st, sid, c.ParticipantID), " "); got != "JOINED PUBLISH_STARTED PUBLISH_ERROR:REUSE_OF_STREAM_KEY" {
		t.Fatalf("events: %s", got)
	}
	must(t, s.DisconnectParticipant(ctx, ivsrealtime.DisconnectParticipantInput{StageARN: st.ARN, ParticipantID: c.ParticipantID}))
	if got, err := s.GetIngestConfiguration(ctx, c.ARN); err != nil || got.StageARN != "" {
		t.Fatalf("after DisconnectParticipant: %+v %v", got, err)
	}
	if err := s.IngestRefused(ctx, p, "NOT_A_CODE", "RTMPS"); err == nil {
		t.Fatal("an unknown error code was recorded")
	}

	// A backup encoder over SRT is the redundant credential's participant,
	// of the same configuration.
	other := newStage(t, s.Service)
	up, err := s.UpdateIngestConfiguration(ctx, ivsrealtime.UpdateIngestConfigurationInput{ARN: c.ARN, StageARN: &other.ARN, RedundantIngest: ptr(true)})
	must(t, err)
	backup := up.RedundantIngestCredentials[0]
	sid, err = s.Joined(ctx, ivsrealtime.ParticipantClaims{StageID: other.ID, StageARN: other.ARN, ParticipantID: backup.ParticipantID,
		UserID: "enc", Publish: true}, ivsrealtime.ClientInfo{Protocol: "SRT"})
	must(t, err)
	part, err = s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: other.ARN, SessionID: sid, ParticipantID: backup.ParticipantID})
	must(t, err)
	if part.Protocol != "SRT" || part.IngestConfigurationARN != c.ARN || !part.RedundantIngest {
		t.Fatalf("the backup encoder's participant %+v", part)
	}
}

// Stream keys from encoders are parsed without trust.
func FuzzParseStageStreamKey(f *testing.F) {
	for _, k := range []string{"rt_123456789012_us-east-1_AbCdEfGh1234_secret", "rt_", "rt_1_a_b_", "rt_1_a_b_c_d", "sk_us-east-1_x", ""} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := ivsrealtime.ParseStageStreamKey(key)
		if err != nil {
			return
		}
		if got := "rt_" + k.Account + "_" + k.Region + "_" + k.ConfigID + "_" + k.Secret; got != key {
			t.Fatalf("%q parsed to %+v", key, k)
		}
		if !ivsrealtime.IsStageStreamKey(key) || k.Secret == "" || strings.Contains(k.ConfigID, "_") {
			t.Fatalf("%q parsed to %+v", key, k)
		}
	})
}
