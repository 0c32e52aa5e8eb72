package chat

import (
	"testing"
	"unicode/utf8"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		text bool
		in   string
		ok   bool
	}{
		{"message", true, `{"Action":"SEND_MESSAGE","RequestId":"r","Content":"hi","Attributes":{"k":"v"}}`, true},
		{"binary frame", false, `{"Action":"SEND_MESSAGE","Content":"hi"}`, false},
		{"not JSON", true, `hello`, false},
		{"trailing garbage", true, `{"Action":"SEND_MESSAGE","Content":"hi"} x`, false},
		{"array", true, `[]`, false},
		{"attribute not a string", true, `{"Action":"SEND_MESSAGE","Content":"hi","Attributes":{"k":1}}`, false},
		{"no content", true, `{"Action":"SEND_MESSAGE"}`, false},
		{"empty content", true, `{"Action":"SEND_MESSAGE","Content":""}`, false},
		{"delete", true, `{"Action":"DELETE_MESSAGE","Id":"abcdABCDefgh","Reason":"spam"}`, true},
		{"delete without id", true, `{"Action":"DELETE_MESSAGE"}`, false},
		{"disconnect", true, `{"Action":"DISCONNECT_USER","UserId":"bob"}`, true},
		{"disconnect without user", true, `{"Action":"DISCONNECT_USER"}`, false},
		{"long reason", true, `{"Action":"DISCONNECT_USER","UserId":"bob","Reason":"` + longString(257) + `"}`, false},
		{"unknown action", true, `{"Action":"SHOUT"}`, false},
		{"null", true, `null`, false},
	} {
		_, err := parseRequest(tc.text, []byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func longString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'r'
	}
	return string(b)
}

// Every frame a client sends goes through parseRequest.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"Action":"SEND_MESSAGE","RequestId":"r","Content":"hi","Attributes":{"k":"v"}}`,
		`{"Action":"DELETE_MESSAGE","Id":"abcdABCDefgh"}`, `{"Action":"DISCONNECT_USER","UserId":"u","Reason":"x"}`, `{}`, `[1]`} {
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, text bool, b []byte) {
		req, err := parseRequest(text, b)
		if err != nil {
			return
		}
		switch req.Action {
		case actionSendMessage:
			if req.Content == nil || *req.Content == "" || !utf8.ValidString(*req.Content) {
				t.Fatalf("accepted %q", b)
			}
		case actionDeleteMessage:
			if req.ID == "" || len(req.ID) > maxIDLen {
				t.Fatalf("accepted %q", b)
			}
		case actionDisconnectUser:
			if req.UserID == "" || len(req.UserID) > maxIDLen {
				t.Fatalf("accepted %q", b)
			}
		default:
			t.Fatalf("accepted action %q", req.Action)
		}
		if len(req.Reason) > maxReasonLen {
			t.Fatalf("accepted a reason of %d bytes", len(req.Reason))
		}
	})
}
