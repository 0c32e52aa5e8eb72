package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivsrealtime"
)

func testStageSessions(t *testing.T, s StageSessions) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 500, time.UTC)
	must(t, s.CreateStageSession(ctx, ivsrealtime.StageSession{StageID: "stA", SessionID: "st-old0000000000", StartTime: at}))
	must(t, s.CreateStageSession(ctx, ivsrealtime.StageSession{StageID: "stA", SessionID: "st-new0000000000", StartTime: at.Add(time.Hour)}))
	must(t, s.CreateStageSession(ctx, ivsrealtime.StageSession{StageID: "stB", SessionID: "st-bbb0000000000", StartTime: at}))
	_, err := s.GetStageSession(ctx, "stB", "st-old0000000000")
	wantNotFound(t, err)
	wantNotFound(t, s.EndStageSession(ctx, "stA", "st-none000000000", at))
	must(t, s.EndStageSession(ctx, "stA", "st-old0000000000", at.Add(time.Minute)))
	ss, err := s.GetStageSession(ctx, "stA", "st-old0000000000")
	must(t, err)
	if !ss.StartTime.Equal(at) || ss.EndTime == nil || !ss.EndTime.Equal(at.Add(time.Minute)) || ss.StageID != "stA" {
		t.Fatalf("session: %+v", ss)
	}
	list, err := s.ListStageSessions(ctx, "stA")
	must(t, err)
	if len(list) != 2 || list[0].SessionID != "st-new0000000000" || list[0].EndTime != nil {
		t.Fatalf("sessions, newest first: %+v", list)
	}

	p := func(id string, join time.Time) ivsrealtime.Participant {
		return ivsrealtime.Participant{ParticipantID: id, State: ivsrealtime.StateConnected, FirstJoinTime: join,
			Attributes: map[string]string{"k": id}}
	}
	must(t, s.PutParticipant(ctx, "stA", "st-new0000000000", p("late", at.Add(2*time.Second))))
	must(t, s.PutParticipant(ctx, "stA", "st-new0000000000", p("early", at.Add(time.Second))))
	must(t, s.PutParticipant(ctx, "stA", "st-old0000000000", p("other", at)))
	up := p("late", at.Add(2*time.Second))
	up.State, up.Published = ivsrealtime.StateDisconnected, true
	up.BrowserName, up.BrowserVersion, up.OsName, up.OsVersion = "Chrome", "156.0.0.0", "macOS", "10.15.7"
	up.SdkVersion, up.Protocol = "1.41.0", "WHIP"
	must(t, s.PutParticipant(ctx, "stA", "st-new0000000000", up))
	got, err := s.GetParticipant(ctx, "stA", "st-new0000000000", "late")
	must(t, err)
	if got.State != ivsrealtime.StateDisconnected || !got.Published || got.Attributes["k"] != "late" || !got.FirstJoinTime.Equal(up.FirstJoinTime) {
		t.Fatalf("participant after put: %+v", got)
	}
	if got.BrowserName != "Chrome" || got.BrowserVersion != "156.0.0.0" || got.OsName != "macOS" || got.OsVersion != "10.15.7" ||
		got.SdkVersion != "1.41.0" || got.Protocol != "WHIP" || got.IspName != "" {
		t.Fatalf("participant's client fields after put: %+v", got)
	}
	_, err = s.GetParticipant(ctx, "stA", "st-old0000000000", "late")
	wantNotFound(t, err)
	ps, err := s.ListParticipants(ctx, "stA", "st-new0000000000")
	must(t, err)
	if len(ps) != 2 || ps[0].ParticipantID != "early" || ps[1].ParticipantID != "late" {
		t.Fatalf("participants by first join: %+v", ps)
	}

	for i, name := range []string{ivsrealtime.EventJoined, ivsrealtime.EventPublishStarted, ivsrealtime.EventLeft} {
		must(t, s.AddParticipantEvent(ctx, "stA", "st-new0000000000",
			ivsrealtime.Event{Name: name, ParticipantID: "early", EventTime: at.Add(time.Duration(i) * time.Second)}))
	}
	must(t, s.AddParticipantEvent(ctx, "stA", "st-new0000000000", ivsrealtime.Event{Name: ivsrealtime.EventJoined, ParticipantID: "late", EventTime: at}))
	evs, err := s.ListParticipantEvents(ctx, "stA", "st-new0000000000", "early")
	must(t, err)
	if len(evs) != 3 || evs[0].Name != ivsrealtime.EventJoined || evs[2].Name != ivsrealtime.EventLeft {
		t.Fatalf("events in order: %+v", evs)
	}

	must(t, s.DeleteStageSessions(ctx, "stA"))
	if list, err := s.ListStageSessions(ctx, "stA"); err != nil || len(list) != 0 {
		t.Fatalf("after delete: %+v, %v", list, err)
	}
	if evs, err := s.ListParticipantEvents(ctx, "stA", "st-new0000000000", "early"); err != nil || len(evs) != 0 {
		t.Fatalf("events after delete: %+v, %v", evs, err)
	}
	if list, err := s.ListStageSessions(ctx, "stB"); err != nil || len(list) != 1 {
		t.Fatalf("another stage's sessions: %+v, %v", list, err)
	}
}
