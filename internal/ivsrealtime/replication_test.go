package ivsrealtime_test

import (
	"context"
	"slices"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// The control plane's side of replication: the refusals in IVS's codes,
// the participants' replication fields and events on both sides, a stop
// by the API and an end the media side reports, and a restart's cleanup.
func TestParticipantReplication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	a, b := newStage(t, s), newStage(t, s)
	alice, sidA := join(t, s, a, "alice")
	viewer, _ := join(t, s, a, "viewer")
	in := func(pid string) ivsrealtime.StartParticipantReplicationInput {
		return ivsrealtime.StartParticipantReplicationInput{SourceStageARN: a.ARN, DestinationStageARN: b.ARN, ParticipantID: pid,
			ReconnectWindowSeconds: ptr(int32(30)), Attributes: map[string]string{"guest": "yes"}}
	}
	bad := func(f func(*ivsrealtime.StartParticipantReplicationInput)) ivsrealtime.StartParticipantReplicationInput {
		x := in(alice.ParticipantID)
		f(&x)
		return x
	}
	for _, tc := range []struct {
		name  string
		in    ivsrealtime.StartParticipantReplicationInput
		code  ivs.Code
		field string
	}{
		{"not publishing", in(alice.ParticipantID), ivs.CodeConflict, ""},
		{"not connected", in("nobody"), ivs.CodeResourceNotFound, ""},
		{"same stage", bad(func(x *ivsrealtime.StartParticipantReplicationInput) { x.DestinationStageARN = a.ARN }), ivs.CodeValidation, "destinationStageArn"},
		{"unknown destination", bad(func(x *ivsrealtime.StartParticipantReplicationInput) { x.DestinationStageARN = a.ARN + "x" }), ivs.CodeResourceNotFound, ""},
		{"bad source", bad(func(x *ivsrealtime.StartParticipantReplicationInput) { x.SourceStageARN = "arn:nope" }), ivs.CodeValidation, "sourceStageArn"},
		{"window", bad(func(x *ivsrealtime.StartParticipantReplicationInput) { x.ReconnectWindowSeconds = ptr(int32(301)) }), ivs.CodeValidation, "reconnectWindowSeconds"},
		{"participant id", bad(func(x *ivsrealtime.StartParticipantReplicationInput) { x.ParticipantID = "a/b" }), ivs.CodeValidation, "participantId"},
	} {
		err := s.StartParticipantReplication(ctx, tc.in)
		e, ok := ivs.AsError(err)
		if !ok || e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %v, want %s naming %q", tc.name, err, tc.code, tc.field)
		}
	}
	must(t, s.Published(ctx, a.ID, alice.ParticipantID, true))
	must(t, s.StartParticipantReplication(ctx, in(alice.ParticipantID)))
	if e, ok := ivs.AsError(s.StartParticipantReplication(ctx, in(alice.ParticipantID))); !ok || e.Code != ivs.CodeConflict {
		t.Fatalf("a second replication to the same stage: %v", e)
	}
	b2, err := s.GetStage(ctx, b.ARN)
	must(t, err)
	sidB := b2.ActiveSessionID
	if sidB == "" {
		t.Fatal("the destination's session did not start")
	}
	src, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: a.ARN, SessionID: sidA, ParticipantID: alice.ParticipantID})
	must(t, err)
	rep, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: b.ARN, SessionID: sidB, ParticipantID: alice.ParticipantID})
	must(t, err)
	if src.ReplicationType != "SOURCE" || src.ReplicationState != "ACTIVE" {
		t.Fatalf("source %+v", src)
	}
	if rep.ReplicationType != "REPLICA" || rep.ReplicationState != "ACTIVE" || rep.SourceStageARN != a.ARN || rep.SourceSessionID != sidA ||
		rep.Attributes["guest"] != "yes" || rep.UserID != "alice" {
		t.Fatalf("replica %+v", rep)
	}
	// The replica's join (the media side's) keeps it a replica.
	rc := alice
	rc.StageID, rc.StageARN = b.ID, b.ARN
	_, err = s.Joined(ctx, rc, ivsrealtime.ClientInfo{Protocol: "WHIP"})
	must(t, err)
	rep, err = s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: b.ARN, SessionID: sidB, ParticipantID: alice.ParticipantID})
	must(t, err)
	if rep.State != "CONNECTED" || rep.ReplicationType != "REPLICA" {
		t.Fatalf("replica after its join %+v", rep)
	}
	if ev := events(t, s, a, sidA, alice.ParticipantID); !slices.Contains(ev, "REPLICATION_STARTED") {
		t.Fatalf("source events %v", ev)
	}
	if ev := events(t, s, b, sidB, alice.ParticipantID); !slices.Equal(ev, []string{"REPLICATION_STARTED", "JOINED"}) {
		t.Fatalf("replica events %v", ev)
	}
	// A replica may not be replicated.
	if e, ok := ivs.AsError(s.StartParticipantReplication(ctx, ivsrealtime.StartParticipantReplicationInput{SourceStageARN: b.ARN,
		DestinationStageARN: a.ARN, ParticipantID: alice.ParticipantID})); !ok || e.Code != ivs.CodeValidation {
		t.Fatalf("replicating a replica: %v", e)
	}

	must(t, s.StopParticipantReplication(ctx, ivsrealtime.StopParticipantReplicationInput{SourceStageARN: a.ARN, DestinationStageARN: b.ARN,
		ParticipantID: alice.ParticipantID}))
	if e, ok := ivs.AsError(s.StopParticipantReplication(ctx, ivsrealtime.StopParticipantReplicationInput{SourceStageARN: a.ARN,
		DestinationStageARN: b.ARN, ParticipantID: alice.ParticipantID})); !ok || e.Code != ivs.CodeResourceNotFound {
		t.Fatalf("stopping twice: %v", e)
	}
	reps, _, err := s.ListParticipantReplicas(ctx, ivsrealtime.ListParticipantReplicasInput{SourceStageARN: a.ARN, ParticipantID: alice.ParticipantID})
	must(t, err)
	if len(reps) != 1 || reps[0].ReplicationState != "STOPPED" || reps[0].DestinationSessionID != sidB || reps[0].SourceSessionID != sidA {
		t.Fatalf("replicas %+v", reps)
	}
	if ev := events(t, s, a, sidA, alice.ParticipantID); !slices.Contains(ev, "REPLICATION_STOPPED") {
		t.Fatalf("source events %v", ev)
	}
	src, err = s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: a.ARN, SessionID: sidA, ParticipantID: alice.ParticipantID})
	must(t, err)
	if src.ReplicationType != "SOURCE" || src.ReplicationState != "STOPPED" {
		t.Fatalf("source after stop %+v", src)
	}

	// Again, ended by the media side, then a restart's cleanup finds
	// nothing active.
	must(t, s.StartParticipantReplication(ctx, in(alice.ParticipantID)))
	reps, _, err = s.ListParticipantReplicas(ctx, ivsrealtime.ListParticipantReplicasInput{SourceStageARN: a.ARN, ParticipantID: alice.ParticipantID})
	must(t, err)
	if len(reps) != 1 || reps[0].ReplicationState != "ACTIVE" {
		t.Fatalf("replicas %+v", reps)
	}
	must(t, s.ReplicationEnded(ctx, a.ID+"/"+alice.ParticipantID+"/"+b.ID))
	must(t, s.ReplicationEnded(ctx, a.ID+"/"+alice.ParticipantID+"/"+b.ID)) // once is enough; again is no error
	if n, err := s.EndInterruptedReplications(ctx); err != nil || n != 0 {
		t.Fatalf("interrupted: %d %v", n, err)
	}
	must(t, s.StartParticipantReplication(ctx, in(alice.ParticipantID)))
	if n, err := s.EndInterruptedReplications(ctx); err != nil || n != 1 {
		t.Fatalf("interrupted: %d %v", n, err)
	}
	if _, _, err := s.ListParticipantReplicas(ctx, ivsrealtime.ListParticipantReplicasInput{SourceStageARN: a.ARN,
		ParticipantID: viewer.ParticipantID, MaxResults: ptr(int32(51))}); err == nil {
		t.Fatal("maxResults 51 accepted")
	}
}
