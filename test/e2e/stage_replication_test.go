package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivsrealtime"
	rttypes "github.com/aws/aws-sdk-go-v2/service/ivsrealtime/types"
	"github.com/aws/smithy-go"

	"github.com/onair-video/onair/test/e2e/harness"
)

// Participant replication with aws-sdk-go-v2 and the aws CLI: alice
// publishes on stage A; StartParticipantReplication makes her a replica
// on stage B, where bob sees her publishing (with the merged attributes)
// and decodes her frames; ListParticipantReplicas, GetParticipant and the
// participant events on both sides say so; StopParticipantReplication
// (the CLI) takes the replica off B. The refusals come in IVS's shapes.
func TestStageParticipantReplication(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	rt := s.RealTime()
	cli := newCLI(t, s)
	ctx := harness.Context(t, 3*time.Minute)
	hc := s.HTTPSClient(t)
	whip := s.Endpoint() + "/stage/whip"

	newStage := func(name string) (arn, id, events string) {
		out, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		arn = *out.Stage.Arn
		return arn, arn[strings.LastIndex(arn, "/")+1:], aws.ToString(out.Stage.Endpoints.Events)
	}
	token := func(arn, user string, attrs map[string]string, caps ...rttypes.ParticipantTokenCapability) *rttypes.ParticipantToken {
		in := &ivsrealtime.CreateParticipantTokenInput{StageArn: aws.String(arn), UserId: aws.String(user), Attributes: attrs}
		if len(caps) > 0 {
			in.Capabilities = caps
		}
		out, err := rt.CreateParticipantToken(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.ParticipantToken
	}
	arnA, idA, eventsA := newStage("source")
	arnB, idB, eventsB := newStage("destination")
	alice := token(arnA, "alice", map[string]string{"team": "red", "seat": "1"})
	carol := token(arnA, "carol", nil)
	bob := token(arnB, "bob", nil, rttypes.ParticipantTokenCapabilitySubscribe)
	join := func(events, stageID string, tok *rttypes.ParticipantToken) *stageClient {
		ws, err := dialStage(ctx, hc, events, stageID, *tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { _ = ws.CloseNow() })
		return &stageClient{t: t, ws: ws}
	}
	join(eventsA, idA, alice)
	c := join(eventsA, idA, carol)
	b := join(eventsB, idB, bob)
	c.waitState(ctx, *alice.ParticipantId, *carol.ParticipantId)
	b.waitState(ctx, *bob.ParticipantId)

	start := func(pid string, attrs map[string]string) error {
		_, err := rt.StartParticipantReplication(ctx, &ivsrealtime.StartParticipantReplicationInput{
			SourceStageArn: aws.String(arnA), DestinationStageArn: aws.String(arnB), ParticipantId: aws.String(pid),
			ReconnectWindowSeconds: aws.Int32(5), Attributes: attrs})
		return err
	}
	wantCode := func(err error, code, what string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Fatalf("%s: %v, want %s", what, err, code)
		}
	}
	// Alice does not publish yet: nothing to replicate.
	wantCode(start(*alice.ParticipantId, nil), "ConflictException", "replicating a participant that does not publish")
	_, err := rt.StartParticipantReplication(ctx, &ivsrealtime.StartParticipantReplicationInput{SourceStageArn: aws.String(arnA),
		DestinationStageArn: aws.String(arnA), ParticipantId: alice.ParticipantId})
	wantCode(err, "ValidationException", "replicating into the same stage")
	wantCode(start("nobody", nil), "ResourceNotFoundException", "replicating a participant that is not connected")

	clip := harness.MakeClip(t, "320x240", 30, 2*time.Second)
	pub, err := harness.PublishWHIP(ctx, whip+"/publish/"+*alice.ParticipantId, *alice.Token, clip)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for {
		m := c.waitType(ctx, "STAGE_STATE")
		if len(m.Payload.Participants) > 0 && m.Payload.Participants[0].IsPublishing {
			break
		}
	}
	if err := start(*alice.ParticipantId, map[string]string{"seat": "9", "guest": "yes"}); err != nil {
		t.Fatal(err)
	}
	wantCode(start(*alice.ParticipantId, nil), "ConflictException", "a second replication to the same stage")

	// Bob sees the replica publishing with the merged attributes, and
	// decodes her frames from stage B.
	for {
		m := b.waitType(ctx, "STAGE_STATE")
		ok := false
		for _, p := range m.Payload.Participants {
			if p.ID == *alice.ParticipantId && p.IsPublishing {
				if p.Attributes["team"] != "red" || p.Attributes["seat"] != "9" || p.Attributes["guest"] != "yes" || p.UserID != "alice" {
					t.Fatalf("replica in STAGE_STATE: %+v", p)
				}
				ok = true
			}
		}
		if ok {
			break
		}
	}
	view, err := harness.WatchWHEPWith(ctx, whip+"/subscribe/"+*alice.ParticipantId, harness.WatchOptions{Bearer: *bob.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	harness.Eventually(t, 30*time.Second, func() error {
		if n := len(view.Frames()); n <= 10 {
			return fmt.Errorf("%d of the replica's frames at bob", n)
		}
		return nil
	})

	reps, err := rt.ListParticipantReplicas(ctx, &ivsrealtime.ListParticipantReplicasInput{SourceStageArn: aws.String(arnA),
		ParticipantId: alice.ParticipantId})
	if err != nil {
		t.Fatal(err)
	}
	stA, err := rt.GetStage(ctx, &ivsrealtime.GetStageInput{Arn: aws.String(arnA)})
	if err != nil {
		t.Fatal(err)
	}
	stB, err := rt.GetStage(ctx, &ivsrealtime.GetStageInput{Arn: aws.String(arnB)})
	if err != nil {
		t.Fatal(err)
	}
	sidA, sidB := aws.ToString(stA.Stage.ActiveSessionId), aws.ToString(stB.Stage.ActiveSessionId)
	if len(reps.Replicas) != 1 {
		t.Fatalf("replicas %+v", reps.Replicas)
	}
	r := reps.Replicas[0]
	if aws.ToString(r.DestinationStageArn) != arnB || aws.ToString(r.SourceSessionId) != sidA || aws.ToString(r.DestinationSessionId) != sidB ||
		r.ReplicationState != rttypes.ReplicationStateActive || aws.ToString(r.ParticipantId) != *alice.ParticipantId {
		t.Fatalf("replica %+v (sessions %s, %s)", r, sidA, sidB)
	}
	gotA, err := rt.GetParticipant(ctx, &ivsrealtime.GetParticipantInput{StageArn: aws.String(arnA), SessionId: aws.String(sidA),
		ParticipantId: alice.ParticipantId})
	if err != nil {
		t.Fatal(err)
	}
	if gotA.Participant.ReplicationType != rttypes.ReplicationTypeSource || gotA.Participant.ReplicationState != rttypes.ReplicationStateActive {
		t.Fatalf("source participant %+v", gotA.Participant)
	}
	gotB, err := rt.GetParticipant(ctx, &ivsrealtime.GetParticipantInput{StageArn: aws.String(arnB), SessionId: aws.String(sidB),
		ParticipantId: alice.ParticipantId})
	if err != nil {
		t.Fatal(err)
	}
	if p := gotB.Participant; p.ReplicationType != rttypes.ReplicationTypeReplica || aws.ToString(p.SourceStageArn) != arnA ||
		aws.ToString(p.SourceSessionId) != sidA || p.State != rttypes.ParticipantStateConnected || !p.Published {
		t.Fatalf("replica participant %+v", p)
	}
	hasEvent := func(arn, sid string, name rttypes.EventName, replica bool) bool {
		evs, err := rt.ListParticipantEvents(ctx, &ivsrealtime.ListParticipantEventsInput{StageArn: aws.String(arn), SessionId: aws.String(sid),
			ParticipantId: alice.ParticipantId})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Events {
			if e.Name == name && aws.ToString(e.DestinationStageArn) == arnB && aws.ToString(e.DestinationSessionId) == sidB &&
				e.Replica == replica {
				return true
			}
		}
		return false
	}
	if !hasEvent(arnA, sidA, rttypes.EventNameReplicationStarted, false) || !hasEvent(arnB, sidB, rttypes.EventNameReplicationStarted, true) {
		t.Fatal("no REPLICATION_STARTED events")
	}

	// The aws CLI stops it: the replica leaves B; alice goes on in A.
	cli.run("ivs-realtime", "stop-participant-replication", "--source-stage-arn", arnA, "--destination-stage-arn", arnB,
		"--participant-id", *alice.ParticipantId)
	b.waitState(ctx, *bob.ParticipantId)
	var listed struct {
		Replicas []struct{ ReplicationState string }
	}
	cli.realtime(&listed, "list-participant-replicas", "--source-stage-arn", arnA, "--participant-id", *alice.ParticipantId)
	if len(listed.Replicas) != 1 || listed.Replicas[0].ReplicationState != "STOPPED" {
		t.Fatalf("after stop: %+v", listed)
	}
	if !hasEvent(arnA, sidA, rttypes.EventNameReplicationStopped, false) || !hasEvent(arnB, sidB, rttypes.EventNameReplicationStopped, true) {
		t.Fatal("no REPLICATION_STOPPED events")
	}
	cli.fail("ResourceNotFoundException", "no active replication", "ivs-realtime", "stop-participant-replication",
		"--source-stage-arn", arnA, "--destination-stage-arn", arnB, "--participant-id", *alice.ParticipantId)
	if pub.PC.ConnectionState().String() != "connected" {
		t.Fatalf("alice's publish is %s after the replication stopped", pub.PC.ConnectionState())
	}

	// Replicated again, then alice stops publishing: the replica stays
	// through the 5 s reconnect window, then the replication ends by
	// itself.
	if err := start(*alice.ParticipantId, nil); err != nil {
		t.Fatal(err)
	}
	b.waitState(ctx, *bob.ParticipantId, *alice.ParticipantId)
	pub.Close()
	stopped := time.Now()
	b.waitState(ctx, *bob.ParticipantId)
	if d := time.Since(stopped); d < 4*time.Second {
		t.Fatalf("the replica left %v after its source stopped, within the 5 s window", d)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		out, err := rt.ListParticipantReplicas(ctx, &ivsrealtime.ListParticipantReplicasInput{SourceStageArn: aws.String(arnA),
			ParticipantId: alice.ParticipantId})
		if err != nil {
			return err
		}
		// One replica per destination: the latest replication to it.
		if len(out.Replicas) != 1 || out.Replicas[0].ReplicationState != rttypes.ReplicationStateStopped {
			return fmt.Errorf("replicas %+v", out.Replicas)
		}
		return nil
	})
}
