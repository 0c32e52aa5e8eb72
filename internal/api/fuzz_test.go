package api

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/onair-video/onair/internal/ivs"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIA/20240102/us-east-1/ivs/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32),
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e",
		"Bearer token",
		"AWS4-HMAC-SHA256 ,,,=",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if _, ok := asAuthError(err); !ok {
				t.Fatalf("error %v is not an auth error", err)
			}
			return
		}
		if a.AccessKeyID == "" || a.Region == "" || a.Service == "" || len(a.Date) != 8 || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted incomplete header %q: %+v", h, a)
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a","latencyMode":"LOW","tags":{"a":"b"}}`, `{"name":5}`, `[]`, `{"maxResults":"x"}`,
		`{"multitrackInputConfiguration":{"enabled":"yes"}}`, `{`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in ivs.CreateChannelInput
		err := decodeBody(b, &in)
		if err == nil {
			return
		}
		var e *ivs.Error
		if !errors.As(err, &e) || e.Code != ivs.CodeValidation || e.Message == "" {
			t.Fatalf("decode %q: %v is not a ValidationException", b, err)
		}
	})
}

// A viewer's chat token request (unsigned, from anyone): a valid input or
// a ValidationException, never a name a chat would show badly.
func FuzzParseViewerChat(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"displayName":"Ana","viewerKey":"0123456789abcdef"}`, `{"displayName":" a\u0007 "}`,
		`{"displayName":5}`, `{"viewerKey":"short"}`, `[]`, `null`, `{"displayName":"\ud800"}`, `{"displayName":"a\u0085b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := parseViewerChat(b)
		if err != nil {
			if e, ok := ivs.AsError(err); !ok || e.Code != ivs.CodeValidation {
				t.Fatalf("error %v is not a ValidationException", err)
			}
			return
		}
		if !utf8.ValidString(in.DisplayName) || utf8.RuneCountInString(in.DisplayName) > maxDisplayName ||
			strings.ContainsFunc(in.DisplayName, unicode.IsControl) || in.DisplayName != strings.TrimSpace(in.DisplayName) {
			t.Fatalf("accepted displayName %q", in.DisplayName)
		}
		if k := len(in.ViewerKey); k != 0 && (k < viewerKeyMin || k > viewerKeyMax) {
			t.Fatalf("accepted a viewerKey of %d bytes", k)
		}
	})
}
