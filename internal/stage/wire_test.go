package stage

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestParseClientMessage(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	for _, tc := range []struct {
		in   string
		want clientMessage
		err  bool
	}{
		{in: `{"type":"PING"}`, want: clientMessage{Type: typePing}},
		{in: `{"type":"PING","payload":{"requestId":"r","traceId":"t"}}`, want: clientMessage{Type: typePing, RequestID: "r", TraceID: "t", V2: true}},
		{in: `{"audioMuted":true,"type":"SET_STATE","version":"0","videoStopped":false}`, want: clientMessage{Type: typeSetState, AudioMuted: &yes, VideoStopped: &no}},
		{in: `{"type":"aws:ivs:SET_STATE","payload":{"audioMuted":false,"videoStopped":true,"requestId":"r","traceId":"t"}}`,
			want: clientMessage{Type: typeSetStateV2, AudioMuted: &no, VideoStopped: &yes, RequestID: "r", TraceID: "t", V2: true}},
		{in: `{"type":"SET_STATE"}`, want: clientMessage{Type: typeSetState}},
		{in: `{"type":"aws:ivs:EXCHANGE_TOKEN","payload":{"oldToken":"a","newToken":"b","requestId":"r","traceId":"t"}}`,
			want: clientMessage{Type: typeExchangeToken, NewToken: "b", RequestID: "r", TraceID: "t", V2: true}},
		{in: `{"type":"aws:ivs:EXCHANGE_TOKEN","payload":{"requestId":"r"}}`, err: true},
		{in: `{"type":"aws:ivs:SDP_OFFER","payload":{"requestId":"r","content":"v=0"}}`, want: clientMessage{Type: typeSDPOffer, RequestID: "r", V2: true}},
		{in: `{"type":"aws:ivs:SDP_OFFER"}`, err: true},
		{in: `{"type":"TELEMETRY"}`, err: true},
		{in: `{}`, err: true},
		{in: `[]`, err: true},
		{in: `{"type":1}`, err: true},
		{in: `{"type":"SET_STATE","audioMuted":"yes"}`, err: true},
		{in: `not json`, err: true},
	} {
		got, err := parseClientMessage([]byte(tc.in))
		if (err != nil) != tc.err || (err != nil && !errors.Is(err, errMessage)) {
			t.Errorf("%s: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && fmt.Sprintf("%+v", deref(got)) != fmt.Sprintf("%+v", deref(tc.want)) {
			t.Errorf("%s: got %+v, want %+v", tc.in, deref(got), deref(tc.want))
		}
	}
}

// deref shows the booleans behind the pointers.
func deref(m clientMessage) map[string]any {
	b := func(p *bool) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return map[string]any{"type": m.Type, "a": b(m.AudioMuted), "v": b(m.VideoStopped), "r": m.RequestID, "t": m.TraceID, "v2": m.V2, "n": m.NewToken}
}

func TestJoinCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{ErrTokenMissing, "TOKEN_MISSING"},
		{fmt.Errorf("x: %w", ErrTokenMalformed), "TOKEN_INVALID"},
		{fmt.Errorf("x: %w", ErrTokenSignature), "TOKEN_INVALID_SIGNATURE"},
		{fmt.Errorf("x: %w", ErrTokenExpired), "TOKEN_EXPIRED"},
		{ErrStageDeleted, "STAGE_DELETED"},
		{ErrParticipantDisconnected, "PARTICIPANT_DISCONNECTED"},
		{errors.Join(errBadRequest, errTest), "BAD_REQUEST"},
		{errTest, "INTERNAL"},
	} {
		if got := joinCode(tc.err); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.want)
		}
	}
}

// The server's messages have the shape the SDK reads.
func TestEncode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{encode(typePong, nil), `{"type":"PONG"}`},
		{encode(typeDisconnect, disconnectPayload{Code: DisconnectTokenReused, Reason: "r"}), `{"type":"aws:ivs:DISCONNECT","payload":{"code":"TOKEN_REUSED","reason":"r"}}`},
		{encode(typeStageState, stageState{SequenceNumber: 5, StageID: "s", Participants: []stateParticipant{{ID: "p", Attributes: map[string]string{}}}, Disconnected: []stateDisconnected{}, ServerFeatures: []string{}}),
			`{"type":"STAGE_STATE","payload":{"sequenceNumber":5,"stageId":"s","participants":[{"id":"p","userId":"","attributes":{},"isPublishing":false,"audioMuted":false,"videoStopped":false}],"disconnected":[],"serverFeatures":[]}}`},
		{encode(typeExchangeToken, reply{RequestID: "r", TraceID: "t", Error: &replyError{Message: "m"}}), `{"type":"aws:ivs:EXCHANGE_TOKEN","payload":{"requestId":"r","traceId":"t","error":{"fatal":false,"type":"","message":"m"}}}`},
	} {
		if string(tc.b) != tc.want {
			t.Errorf("got  %s\nwant %s", tc.b, tc.want)
		}
	}
}

func FuzzParseClientMessage(f *testing.F) {
	for _, s := range []string{`{"type":"PING"}`, `{"type":"PING","payload":{"requestId":"r","traceId":"t"}}`,
		`{"audioMuted":true,"type":"SET_STATE","version":"0","videoStopped":false}`,
		`{"type":"aws:ivs:SET_STATE","payload":{"audioMuted":false,"videoStopped":true,"requestId":"r","traceId":"t"}}`,
		`{"type":"aws:ivs:EXCHANGE_TOKEN","payload":{"oldToken":"a","newToken":"b","requestId":"r","traceId":"t"}}`, `{"type":null}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseClientMessage(b)
		if err != nil {
			if !errors.Is(err, errMessage) {
				t.Fatalf("error %v does not wrap errMessage", err)
			}
			return
		}
		switch m.Type {
		case typePing, typeSetState, typeSetStateV2:
		case typeExchangeToken:
			if m.NewToken == "" || m.RequestID == "" {
				t.Fatalf("EXCHANGE_TOKEN accepted without its members: %+v", m)
			}
		case typeSDPOffer:
			if m.RequestID == "" {
				t.Fatal("SDP_OFFER accepted without requestId")
			}
		default:
			t.Fatalf("type %q accepted", m.Type)
		}
		if m.V2 != (m.RequestID != "") {
			t.Fatalf("V2 %v with requestId %q", m.V2, m.RequestID)
		}
		// Whatever was accepted can be answered.
		var out map[string]any
		if err := json.Unmarshal(encode(m.Type, reply{RequestID: m.RequestID, TraceID: m.TraceID}), &out); err != nil {
			t.Fatal(err)
		}
	})
}
