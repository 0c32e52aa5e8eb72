package chat

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
)

// quietRelay is a Relay that goes nowhere, for feeding the server what
// other nodes send.
type quietRelay struct{}

func (quietRelay) Self() string                                   { return "n1" }
func (quietRelay) Nodes() []string                                { return []string{"n1"} }
func (quietRelay) Publish(string, []byte) error                   { return nil }
func (quietRelay) Subscribe(string, func([]byte)) (func(), error) { return func() {}, nil }
func (quietRelay) Request(context.Context, string, string, []byte) ([]byte, error) {
	return nil, ErrUnavailable
}
func (quietRelay) Serve(func(context.Context, string, []byte) []byte) (func(), error) {
	return func() {}, nil
}

// oneRoom is a control plane with one room, "r1", and nothing else.
type oneRoom struct{}

func (oneRoom) OpenChatToken(context.Context, string) (ivschat.ChatClaims, error) {
	return ivschat.ChatClaims{}, ivschat.ErrBadChatToken
}

func (oneRoom) RoomByID(_ context.Context, id string) (ivschat.Room, error) {
	if id != "r1" {
		return ivschat.Room{}, ivs.NotFound("room", id)
	}
	return ivschat.Room{ID: "r1", ARN: "arn:aws:ivschat:us-east-1:123456789012:room/r1", MaximumMessageLength: 500, MaximumMessageRatePerSecond: 10}, nil
}

func (oneRoom) GetLoggingConfiguration(context.Context, string) (ivschat.LoggingConfiguration, error) {
	return ivschat.LoggingConfiguration{}, ivs.NotFound("logging configuration", "")
}

// Whatever another node sends, as a home request or as a room's frame, the
// server answers a well-formed reply or drops it, and does not fail.
func FuzzRelayMessages(f *testing.F) {
	f.Add([]byte(`{"v":1,"op":"send","content":"hi","sender":{"userId":"u"}}`))
	f.Add([]byte(`{"v":1,"op":"disconnect","userId":"u"}`))
	f.Add([]byte(`{"v":2,"op":"event","name":"x"}`))
	f.Add([]byte(`{"v":1,"from":"n2","typ":"MESSAGE","frame":{"Type":"MESSAGE"},"kick":{"userId":"u"}}`))
	f.Add([]byte(`{"v":1,"from":"n2","close":"bye"}`))
	f.Add([]byte(`not json`))
	s := New(Config{Rooms: oneRoom{}, Relay: quietRelay{}})
	f.Cleanup(s.Close)
	rm := newRoom(s, "r1", "arn")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, room := range []string{"r1", "gone"} {
			var r homeReply
			if err := json.Unmarshal(s.handleHome(context.Background(), room, b), &r); err != nil || r.V != relayVersion {
				t.Fatalf("reply %+v, %v", r, err)
			}
			if r.Code == 0 && r.ID == "" {
				t.Fatalf("a reply with neither an id nor an error: %+v", r)
			}
		}
		s.relayed(rm, b)
	})
}
