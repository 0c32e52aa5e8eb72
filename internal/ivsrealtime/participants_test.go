package ivsrealtime_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

func ptr[T any](v T) *T { return &v }

func join(t *testing.T, s *ivsrealtime.Service, st ivsrealtime.Stage, user string) (ivsrealtime.ParticipantClaims, string) {
	t.Helper()
	ctx := context.Background()
	c, err := s.VerifyParticipantToken(ctx, token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{UserID: user}).Token)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := s.Joined(ctx, c, ivsrealtime.ClientInfo{BrowserName: "Chrome", SdkVersion: "1.41.0", Protocol: "WHIP"})
	if err != nil {
		t.Fatal(err)
	}
	return c, sid
}

func events(t *testing.T, s *ivsrealtime.Service, st ivsrealtime.Stage, sid, pid string) []string {
	t.Helper()
	evs, _, err := s.ListParticipantEvents(context.Background(), ivsrealtime.ListParticipantEventsInput{StageARN: st.ARN, SessionID: sid, ParticipantID: pid})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		n := e.Name
		if e.RemoteParticipantID != "" {
			n += ">" + e.RemoteParticipantID
		}
		if e.ErrorCode != "" {
			n += ":" + e.ErrorCode
		}
		out = append(out, n)
	}
	return out
}

// A session starts at the first join and ends at the last leave; the
// media side's reports become participants and events the read
// operations list, with their filters and pages.
func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	host, sid := join(t, s, st, "host")
	if len(sid) != 16 || sid[:3] != "st-" {
		t.Fatalf("session id %q", sid)
	}
	if got, _ := s.GetStage(ctx, st.ARN); got.ActiveSessionID != sid {
		t.Fatalf("activeSessionId %q, want %q", got.ActiveSessionID, sid)
	}
	guest, sid2 := join(t, s, st, "guest")
	if sid2 != sid {
		t.Fatalf("a second join started session %s", sid2)
	}
	if _, err := s.Joined(ctx, guest, ivsrealtime.ClientInfo{}); !errors.Is(err, ivsrealtime.ErrAlreadyJoined) {
		t.Fatalf("the same participant twice: %v", err)
	}
	must(t, s.Published(ctx, st.ID, host.ParticipantID, true))
	must(t, s.Published(ctx, st.ID, host.ParticipantID, true)) // no second event
	must(t, s.Subscribed(ctx, st.ID, guest.ParticipantID, host.ParticipantID, true))
	must(t, s.Failed(ctx, st.ID, guest.ParticipantID, ivsrealtime.EventSubscribeError, "PUBLISHER_NOT_FOUND", "nobody"))
	if err := s.Failed(ctx, st.ID, guest.ParticipantID, ivsrealtime.EventSubscribeError, "NOT_A_CODE", ""); err == nil {
		t.Fatal("an unknown error code was recorded")
	}
	if err := s.Published(ctx, st.ID, "stranger", true); !errors.Is(err, ivsrealtime.ErrNotJoined) {
		t.Fatalf("a stranger published: %v", err)
	}

	p, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: host.ParticipantID})
	must(t, err)
	if p.UserID != "host" || p.State != ivsrealtime.StateConnected || !p.Published || p.BrowserName != "Chrome" || p.Protocol != "WHIP" ||
		p.FirstJoinTime.IsZero() || p.RecordingState != "DISABLED" {
		t.Fatalf("participant %+v", p)
	}
	for _, tc := range []struct {
		name string
		in   ivsrealtime.ListParticipantsInput
		want int
	}{
		{"all", ivsrealtime.ListParticipantsInput{}, 2},
		{"by user", ivsrealtime.ListParticipantsInput{FilterByUserID: ptr("guest")}, 1},
		{"published", ivsrealtime.ListParticipantsInput{FilterByPublished: ptr(true)}, 1},
		{"connected", ivsrealtime.ListParticipantsInput{FilterByState: ptr(ivsrealtime.StateConnected)}, 2},
		{"disconnected", ivsrealtime.ListParticipantsInput{FilterByState: ptr(ivsrealtime.StateDisconnected)}, 0},
		{"recording", ivsrealtime.ListParticipantsInput{FilterByRecordingState: ptr("ACTIVE")}, 0},
	} {
		tc.in.StageARN, tc.in.SessionID = st.ARN, sid
		ps, _, err := s.ListParticipants(ctx, tc.in)
		if err != nil || len(ps) != tc.want {
			t.Fatalf("%s: %d participants, %v; want %d", tc.name, len(ps), err, tc.want)
		}
	}
	_, _, err = s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: st.ARN, SessionID: sid,
		FilterByUserID: ptr("a"), FilterByPublished: ptr(true)})
	wantCode(t, err, ivs.CodeValidation, "filterByUserId")
	_, _, err = s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: st.ARN, SessionID: sid, FilterByState: ptr("GONE")})
	wantCode(t, err, ivs.CodeValidation, "filterByState")
	page1, next, err := s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: st.ARN, SessionID: sid, MaxResults: ptr(int32(1))})
	must(t, err)
	page2, last, err := s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: st.ARN, SessionID: sid, MaxResults: ptr(int32(1)), NextToken: next})
	must(t, err)
	if len(page1) != 1 || len(page2) != 1 || next == "" || last != "" || page1[0].ParticipantID == page2[0].ParticipantID {
		t.Fatalf("pages %+v %q %+v %q", page1, next, page2, last)
	}

	must(t, s.Left(ctx, st.ID, host.ParticipantID))
	if got, _ := s.GetStage(ctx, st.ARN); got.ActiveSessionID != sid {
		t.Fatal("the session ended while a participant is connected")
	}
	if got := fmt.Sprint(events(t, s, st, sid, host.ParticipantID)); got != "[JOINED PUBLISH_STARTED PUBLISH_STOPPED LEFT]" {
		t.Fatalf("host events %s", got)
	}
	must(t, s.Left(ctx, st.ID, guest.ParticipantID))
	if got := fmt.Sprint(events(t, s, st, sid, guest.ParticipantID)); got != "[JOINED SUBSCRIBE_STARTED>"+host.ParticipantID+
		" SUBSCRIBE_ERROR>nobody:PUBLISHER_NOT_FOUND LEFT]" {
		t.Fatalf("guest events %s", got)
	}
	if err := s.Left(ctx, st.ID, guest.ParticipantID); !errors.Is(err, ivsrealtime.ErrNotJoined) {
		t.Fatalf("a second leave: %v", err)
	}
	got, _ := s.GetStage(ctx, st.ARN)
	if got.ActiveSessionID != "" {
		t.Fatalf("activeSessionId %q after the last leave", got.ActiveSessionID)
	}
	ss, err := s.GetStageSession(ctx, st.ARN, sid)
	if err != nil || ss.EndTime == nil || ss.EndTime.Before(ss.StartTime) {
		t.Fatalf("ended session %+v, %v", ss, err)
	}
	evs, next, err := s.ListParticipantEvents(ctx, ivsrealtime.ListParticipantEventsInput{StageARN: st.ARN, SessionID: sid,
		ParticipantID: host.ParticipantID, MaxResults: ptr(int32(3))})
	if err != nil || len(evs) != 3 || next == "" {
		t.Fatalf("events page 1: %d, %q, %v", len(evs), next, err)
	}
	evs, next, err = s.ListParticipantEvents(ctx, ivsrealtime.ListParticipantEventsInput{StageARN: st.ARN, SessionID: sid,
		ParticipantID: host.ParticipantID, MaxResults: ptr(int32(3)), NextToken: next})
	if err != nil || len(evs) != 1 || evs[0].Name != ivsrealtime.EventLeft || next != "" {
		t.Fatalf("events page 2: %+v, %q, %v", evs, next, err)
	}

	// A new join is a new session, listed first.
	_, sid3 := join(t, s, st, "late")
	if sid3 == sid {
		t.Fatal("the ended session was reused")
	}
	list, _, err := s.ListStageSessions(ctx, ivsrealtime.ListStageSessionsInput{StageARN: st.ARN})
	if err != nil || len(list) != 2 || list[0].SessionID != sid3 || list[0].EndTime != nil {
		t.Fatalf("sessions %+v, %v", list, err)
	}
	_, err = s.GetStageSession(ctx, st.ARN, "st-AAAAAAAAAAAAA")
	wantCode(t, err, ivs.CodeResourceNotFound, "")
	_, err = s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: "nobody"})
	wantCode(t, err, ivs.CodeResourceNotFound, "")
}

// DisconnectParticipant disconnects a connected participant (the hook),
// revokes its token, and refuses one that is not connected; DeleteStage
// ends the active session and tells the media side.
func TestDisconnectAndDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, h := newService(t)
	st := newStage(t, s)
	tok := token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{})
	in := ivsrealtime.DisconnectParticipantInput{StageARN: st.ARN, ParticipantID: tok.ParticipantID, Reason: "rude"}
	wantCode(t, s.DisconnectParticipant(ctx, in), ivs.CodeResourceNotFound, "")
	c, err := s.VerifyParticipantToken(ctx, tok.Token)
	must(t, err)
	sid, err := s.Joined(ctx, c, ivsrealtime.ClientInfo{})
	must(t, err)
	_, _ = join(t, s, st, "stays")
	wantCode(t, s.DisconnectParticipant(ctx, ivsrealtime.DisconnectParticipantInput{StageARN: st.ARN, ParticipantID: "a b"}),
		ivs.CodeValidation, "participantId")
	must(t, s.DisconnectParticipant(ctx, in))
	if fmt.Sprint(h.disconnected) != "["+st.ID+"/"+tok.ParticipantID+"/rude]" {
		t.Fatalf("hook calls %v", h.disconnected)
	}
	if _, err := s.VerifyParticipantToken(ctx, tok.Token); !errors.Is(err, ivsrealtime.ErrParticipantDisconnected) {
		t.Fatalf("the disconnected token: %v", err)
	}
	p, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: tok.ParticipantID})
	if err != nil || p.State != ivsrealtime.StateDisconnected {
		t.Fatalf("participant %+v, %v", p, err)
	}
	wantCode(t, s.DisconnectParticipant(ctx, in), ivs.CodeResourceNotFound, "")

	must(t, s.DeleteStage(ctx, st.ARN))
	if fmt.Sprint(h.deleted) != "["+st.ID+"]" {
		t.Fatalf("hook calls %v", h.deleted)
	}
	_, err = s.GetStageSession(ctx, st.ARN, sid)
	wantCode(t, err, ivs.CodeResourceNotFound, "")
	if err := s.Left(ctx, st.ID, tok.ParticipantID); err == nil {
		t.Fatal("a leave on a deleted stage was recorded")
	}
	if _, err := s.VerifyParticipantToken(ctx, tok.Token); !errors.Is(err, ivsrealtime.ErrStageDeleted) {
		t.Fatalf("the disconnected token of a deleted stage: %v", err)
	}
}

// Concurrent first joins start one session.
func TestConcurrentJoins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	var claims []ivsrealtime.ParticipantClaims
	for range 8 {
		c, err := s.VerifyParticipantToken(ctx, token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{}).Token)
		must(t, err)
		claims = append(claims, c)
	}
	sids := make([]string, len(claims))
	var wg sync.WaitGroup
	for i, c := range claims {
		wg.Go(func() {
			sid, err := s.Joined(ctx, c, ivsrealtime.ClientInfo{})
			if err != nil {
				t.Error(err)
			}
			sids[i] = sid
		})
	}
	wg.Wait()
	for _, sid := range sids {
		if sid != sids[0] {
			t.Fatalf("sessions %v", sids)
		}
	}
	list, _, err := s.ListStageSessions(ctx, ivsrealtime.ListStageSessionsInput{StageARN: st.ARN})
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions %+v, %v", list, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The List operations of an unknown stage or session answer nothing (IVS's
// model gives them no ResourceNotFoundException), and still validate.
func TestListsOfNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	gone := newStage(t, s)
	must(t, s.DeleteStage(ctx, gone.ARN))
	for _, arn := range []string{st.ARN, gone.ARN} {
		ss, next, err := s.ListStageSessions(ctx, ivsrealtime.ListStageSessionsInput{StageARN: arn})
		if err != nil || len(ss) != 0 || next != "" {
			t.Fatalf("ListStageSessions: %v %q %v", ss, next, err)
		}
		ps, _, err := s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: arn, SessionID: "st-AAAAAAAAAAAAA"})
		if err != nil || len(ps) != 0 {
			t.Fatalf("ListParticipants: %v %v", ps, err)
		}
		evs, _, err := s.ListParticipantEvents(ctx, ivsrealtime.ListParticipantEventsInput{StageARN: arn, SessionID: "st-AAAAAAAAAAAAA", ParticipantID: "p"})
		if err != nil || len(evs) != 0 {
			t.Fatalf("ListParticipantEvents: %v %v", evs, err)
		}
	}
	_, _, err := s.ListStageSessions(ctx, ivsrealtime.ListStageSessionsInput{StageARN: gone.ARN, MaxResults: ptr(int32(101))})
	wantCode(t, err, ivs.CodeValidation, "maxResults")
	_, _, err = s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: gone.ARN, SessionID: "st-AAAAAAAAAAAAA", FilterByState: ptr("X")})
	wantCode(t, err, ivs.CodeValidation, "filterByState")
	_, _, err = s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: "arn:aws:ivs:us-east-1:1:channel/x", SessionID: "st-AAAAAAAAAAAAA"})
	wantCode(t, err, ivs.CodeValidation, "stageArn")
}

// A token exchange updates the participant and records TOKEN_EXCHANGED
// with both tokens; a start after a stop ends the sessions it left active.
func TestTokenExchangeAndInterruptedSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	s, _ := newServiceOn(t, store, nil)
	st := newStage(t, s)
	prev, sid := join(t, s, st, "before")
	next := prev
	next.UserID, next.Attributes, next.Publish = "after", map[string]string{"n": "1"}, false
	must(t, s.TokenExchanged(ctx, prev, next))
	other := next
	other.ParticipantID = "someone-else"
	if err := s.TokenExchanged(ctx, prev, other); err == nil {
		t.Fatal("an exchange to another participant was recorded")
	}
	p, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: prev.ParticipantID})
	if err != nil || p.UserID != "after" || p.Attributes["n"] != "1" {
		t.Fatalf("participant after the exchange %+v, %v", p, err)
	}
	evs, _, err := s.ListParticipantEvents(ctx, ivsrealtime.ListParticipantEventsInput{StageARN: st.ARN, SessionID: sid, ParticipantID: prev.ParticipantID})
	must(t, err)
	last := evs[len(evs)-1]
	if last.Name != ivsrealtime.EventTokenExchanged || last.PreviousToken == nil || last.NewToken == nil ||
		last.PreviousToken.UserID != "before" || len(last.PreviousToken.Capabilities) != 2 || last.NewToken.UserID != "after" ||
		fmt.Sprint(last.NewToken.Capabilities) != "[SUBSCRIBE]" {
		t.Fatalf("event %+v", last)
	}

	// A restart: the session left active ends, its participant leaves.
	again, _ := newServiceOn(t, store, nil)
	n, err := again.EndInterruptedSessions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("EndInterruptedSessions: %d, %v", n, err)
	}
	if got, _ := again.GetStage(ctx, st.ARN); got.ActiveSessionID != "" {
		t.Fatalf("activeSessionId %q after the restart", got.ActiveSessionID)
	}
	p, err = again.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: prev.ParticipantID})
	if err != nil || p.State != ivsrealtime.StateDisconnected {
		t.Fatalf("participant after the restart %+v, %v", p, err)
	}
	if n, err := again.EndInterruptedSessions(ctx); err != nil || n != 0 {
		t.Fatalf("a second EndInterruptedSessions: %d, %v", n, err)
	}
}

// What a client tells after its join (the web SDK's version, with its
// first WHIP request) is added to the participant; an empty field keeps
// the stored one; a participant that left is refused.
func TestClientUpdated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	c, err := s.VerifyParticipantToken(ctx, token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{UserID: "u"}).Token)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := s.Joined(ctx, c, ivsrealtime.ClientInfo{BrowserName: "Chrome Headless", BrowserVersion: "156.0.0.0", OsName: "Linux", Protocol: "WHIP"})
	if err != nil {
		t.Fatal(err)
	}
	get := func() ivsrealtime.Participant {
		p, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: c.ParticipantID})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := get(); p.SdkVersion != "" || p.BrowserName != "Chrome Headless" {
		t.Fatalf("after the join: %+v", p)
	}
	if err := s.ClientUpdated(ctx, st.ID, c.ParticipantID, ivsrealtime.ClientInfo{SdkVersion: "1.41.0", Protocol: "WHIP"}); err != nil {
		t.Fatal(err)
	}
	p := get()
	if p.SdkVersion != "1.41.0" || p.BrowserName != "Chrome Headless" || p.BrowserVersion != "156.0.0.0" || p.OsName != "Linux" ||
		p.OsVersion != "" || p.Protocol != "WHIP" || p.IspName != "" {
		t.Fatalf("after the update: %+v", p)
	}
	if err := s.Left(ctx, st.ID, c.ParticipantID); err != nil {
		t.Fatal(err)
	}
	if err := s.ClientUpdated(ctx, st.ID, c.ParticipantID, ivsrealtime.ClientInfo{SdkVersion: "2"}); !errors.Is(err, ivsrealtime.ErrNotJoined) {
		t.Fatalf("update after the leave: %v, want ErrNotJoined", err)
	}
}

// Every participant event and the session's start and end are emitted as
// IVS Stage Update events about the stage, for webhooks and SSE; a failed
// emit is the report's error.
func TestStageUpdateEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, h := newService(t)
	st := newStage(t, s)
	host, sid := join(t, s, st, "host")
	guest, _ := join(t, s, st, "guest")
	must(t, s.Published(ctx, st.ID, host.ParticipantID, true))
	must(t, s.Subscribed(ctx, st.ID, guest.ParticipantID, host.ParticipantID, true))
	must(t, s.Failed(ctx, st.ID, guest.ParticipantID, ivsrealtime.EventSubscribeError, "PUBLISHER_NOT_FOUND", "nobody"))
	must(t, s.Left(ctx, st.ID, host.ParticipantID))
	must(t, s.Left(ctx, st.ID, guest.ParticipantID))

	want := []string{
		"Session Created  ",
		"Participant Joined host ",
		"Participant Joined guest ",
		"Participant Published host ",
		"Participant Subscribed guest >host",
		"Participant Subscribe Error guest >nobody PUBLISHER_NOT_FOUND",
		"Participant Unpublished host ",
		"Participant Left host ",
		"Participant Left guest ",
		"Session Ended  ",
	}
	h.mu.Lock()
	var got []string
	for _, e := range h.emitted {
		d := e.Detail
		g := fmt.Sprintf("%s %s ", d.EventName, d.UserID)
		if d.RemoteParticipantID != "" {
			r := d.RemoteParticipantID
			if r == host.ParticipantID {
				r = "host"
			}
			g += ">" + r
		}
		if d.ErrorCode != "" {
			g += " " + d.ErrorCode
		}
		got = append(got, g)
		if e.DetailType != ivs.EventTypeStageUpdate || len(e.Resources) != 1 || e.Resources[0] != st.ARN || d.SessionID != sid {
			t.Errorf("event %+v", e)
		}
		if d.UserID != "" && d.ParticipantID != map[string]string{"host": host.ParticipantID, "guest": guest.ParticipantID}[d.UserID] {
			t.Errorf("%s: participant_id %q", d.EventName, d.ParticipantID)
		}
	}
	h.emitErr = errors.New("store down")
	h.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("emitted\n%q\nwant\n%q", got, want)
	}
	// The event log failing fails the report (the caller logs it once).
	c, err := s.VerifyParticipantToken(ctx, token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{UserID: "late"}).Token)
	must(t, err)
	if _, err := s.Joined(ctx, c, ivsrealtime.ClientInfo{}); err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("a join whose event could not be logged: %v", err)
	}
}

// published is IVS's "ever published in the session": it stays true when
// the participant stops publishing and when it leaves; a participant that
// is publishing when it leaves, or when a stop ends the session, gets
// PUBLISH_STOPPED before LEFT.
func TestPublishedIsEverPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	host, sid := join(t, s, st, "host")
	guest, _ := join(t, s, st, "guest")
	published := func(pid string) bool {
		t.Helper()
		p, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: pid})
		must(t, err)
		return p.Published
	}
	must(t, s.Published(ctx, st.ID, host.ParticipantID, true))
	must(t, s.Published(ctx, st.ID, host.ParticipantID, false))
	must(t, s.Published(ctx, st.ID, host.ParticipantID, false)) // no second event
	if !published(host.ParticipantID) || published(guest.ParticipantID) {
		t.Fatal("published after a stop")
	}
	must(t, s.Published(ctx, st.ID, host.ParticipantID, true))
	must(t, s.Published(ctx, st.ID, guest.ParticipantID, true))
	must(t, s.Left(ctx, st.ID, host.ParticipantID))
	if got := fmt.Sprint(events(t, s, st, sid, host.ParticipantID)); got != "[JOINED PUBLISH_STARTED PUBLISH_STOPPED PUBLISH_STARTED PUBLISH_STOPPED LEFT]" {
		t.Fatalf("host events %s", got)
	}
	// A stop leaves the guest connected and publishing: the next start
	// ends the session.
	if n, err := s.EndInterruptedSessions(ctx); err != nil || n != 1 {
		t.Fatalf("ended %d sessions, %v", n, err)
	}
	if got := fmt.Sprint(events(t, s, st, sid, guest.ParticipantID)); got != "[JOINED PUBLISH_STARTED PUBLISH_STOPPED LEFT]" {
		t.Fatalf("guest events %s", got)
	}
	ps, _, err := s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: st.ARN, SessionID: sid, FilterByPublished: ptr(true)})
	if err != nil || len(ps) != 2 || ps[0].State != ivsrealtime.StateDisconnected {
		t.Fatalf("published participants after the session: %+v, %v", ps, err)
	}
}
