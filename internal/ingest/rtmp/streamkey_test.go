package rtmp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestStreamKeyFromURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url     string
		want    string
		wantErr error
	}{
		{"rtmp://h:1935/app/sk_us-east-1_abc", "sk_us-east-1_abc", nil},
		{"rtmps://h/app/KEY", "KEY", nil},
		{"rtmp://h/app//KEY", "KEY", nil},    // OBS server field with a trailing slash
		{"rtmp://h/app/KEY/", "KEY", nil},    // trailing slash after the key
		{"rtmp://h/app/KEY?x=1", "KEY", nil}, // query appended to the key
		{"rtmp://h/app/K%41Y", "KAY", nil},   // escaped
		{"rtmp://h/live/KEY", "", errBadApp}, // other application
		{"rtmp://h/app", "", errBadApp},      // no key
		{"rtmp://h/app/a/b", "", errBadApp},  // too deep
		{"rtmp://h/", "", errBadApp},         // nothing
		{"rtmp://h/App/KEY", "", errBadApp},  // app name is case-sensitive
		{"rtmp://h/app/a%20b", "", errBadKeyShape},
		{"rtmp://h/app/a%00b", "", errBadKeyShape},
		{"rtmp://h/app/" + strings.Repeat("k", maxStreamKeyLen+1), "", errBadKeyShape},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := streamKeyFromURL(u)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := streamKeyFromURL(nil); !errors.Is(err, errNoURL) {
		t.Fatalf("nil URL: %v", err)
	}
}

func FuzzStreamKeyFromURL(f *testing.F) {
	for _, s := range []string{"/app/key", "/app//key/", "/live/key", "/app/a/b", "", "/app/\x00", "/app/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		key, err := streamKeyFromURL(&url.URL{Scheme: "rtmp", Host: "h", Path: path})
		if err != nil {
			if key != "" {
				t.Fatal("key returned with an error")
			}
			// Only the fixed sentinels: nothing that could quote the key.
			if !errors.Is(err, errBadApp) && !errors.Is(err, errBadKeyShape) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if key == "" || len(key) > maxStreamKeyLen || strings.ContainsAny(key, "/ \x00") {
			t.Fatalf("bad key %q from %q", key, path)
		}
		if !strings.Contains(path, "/"+appName+"/") && !strings.HasPrefix(path, appName+"/") {
			t.Fatalf("key %q accepted from %q without the app", key, path)
		}
	})
}

func TestRedactErr(t *testing.T) {
	t.Parallel()
	const secret = "sk_us-east-1_secret"
	_, urlErr := url.Parse("rtmp://h/app/" + secret + "%zz") //nolint:staticcheck // invalid on purpose: the test needs the parser's error
	cases := []struct {
		name string
		err  error
	}{
		{"url error", fmt.Errorf("wrapped: %w", urlErr)},
		{"dumped command", fmt.Errorf("invalid connect command: %+v", struct{ TcURL string }{"rtmp://h/app/" + secret})},
		{"bare url", errors.New("bad tcUrl rtmp://h/app/" + secret)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := redactErr(tc.err).Error(); strings.Contains(got, secret) {
				t.Fatalf("redacted error still holds the key: %q", got)
			}
		})
	}
	plain := errors.New("invalid rtmp version (71)")
	if redactErr(plain) != plain { //nolint:errorlint // the very value, not one that wraps it
		t.Fatal("harmless error was rewritten")
	}
	if redactErr(nil) != nil {
		t.Fatal("nil became an error")
	}
}
