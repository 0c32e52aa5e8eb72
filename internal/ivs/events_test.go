package ivs_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
)

// A channel event always carries channel_name, even empty (IVS's shape); a
// stage's event (it has a session_id) carries none.
func TestEventDetailJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		d        ivs.EventDetail
		has, not []string
	}{
		{"channel, unnamed", ivs.EventDetail{EventName: "Stream Start", StreamID: "st-1"},
			[]string{`"channel_name":""`, `"stream_id":"st-1"`}, []string{"session_id", "participant_id"}},
		{"channel", ivs.EventDetail{EventName: "Stream End", ChannelName: "demo"}, []string{`"channel_name":"demo"`}, nil},
		{"stage", ivs.EventDetail{EventName: "Participant Published", SessionID: "st-abc", ParticipantID: "p1", UserID: "u"},
			[]string{`"session_id":"st-abc"`, `"participant_id":"p1"`, `"user_id":"u"`, `"event_name":"Participant Published"`},
			[]string{"channel_name", "remote_participant_id", "error_code"}},
	} {
		b, err := json.Marshal(ivs.Event{Detail: c.d})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range c.has {
			if !strings.Contains(string(b), h) {
				t.Errorf("%s: %s lacks %s", c.name, b, h)
			}
		}
		for _, n := range c.not {
			if strings.Contains(string(b), n) {
				t.Errorf("%s: %s has %s", c.name, b, n)
			}
		}
		var back ivs.Event
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Detail, c.d) {
			t.Errorf("%s: round trip %+v %v", c.name, back.Detail, err)
		}
	}
}
