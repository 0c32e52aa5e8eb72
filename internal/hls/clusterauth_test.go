package hls

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClusterAuth(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	const path = "abcDEF123456/video1_stream.m3u8"
	const q = "_HLS_msn=5&_HLS_part=2"
	good := signCluster(testSecret, "GET", path, q, now)
	at := func(exp int64) string {
		return fmt.Sprintf("v1.%d.%x", exp, clusterMAC(testSecret, "GET", path, q, exp))
	}
	cases := []struct {
		name, header string
		secret       []byte
		now          time.Time
		want         error
	}{
		{"valid", good, testSecret, now, nil},
		{"valid until the expiry", good, testSecret, now.Add(clusterAuthLifetime), nil},
		{"expired", good, testSecret, now.Add(clusterAuthLifetime + time.Second), errAuthExpired},
		{"node clock behind", good, testSecret, now.Add(-time.Minute), nil},
		{"too far ahead", at(now.Add(clusterAuthMaxAhead + time.Second).Unix()), testSecret, now, errAuthAhead},
		{"missing", "", testSecret, now, errAuthMissing},
		{"no secret here", good, nil, now, errAuthNoSecret},
		{"other secret", good, []byte("x"), now, errAuthMismatch},
		{"uppercase hex", strings.ToUpper(good[:3]) + good[3:], testSecret, now, errAuthMalformed},
		{"MAC in uppercase hex", good[:len(good)-64] + strings.ToUpper(good[len(good)-64:]), testSecret, now, nil},
		{"negative expiry", "v1.-1." + strings.Repeat("00", 32), testSecret, now, errAuthMalformed},
		{"plus sign", "v1.+1." + strings.Repeat("00", 32), testSecret, now, errAuthMalformed},
		{"huge expiry", "v1.99999999999999999999." + strings.Repeat("00", 32), testSecret, now, errAuthMalformed},
		{"short MAC", good[:len(good)-2], testSecret, now, errAuthMalformed},
		{"bad hex", good[:len(good)-2] + "zz", testSecret, now, errAuthMalformed},
		{"no MAC", "v1.1800000060", testSecret, now, errAuthMalformed},
		{"too long", good + strings.Repeat("0", 200), testSecret, now, errAuthMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := verifyCluster(tc.secret, tc.header, "GET", path, q, tc.now); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The MAC covers each of method, path and query, and their split.
	for _, other := range [][3]string{{"HEAD", path, q}, {"GET", path + "x", q}, {"GET", path, ""}, {"GET", path + "\n" + q, ""}} {
		if err := verifyCluster(testSecret, good, other[0], other[1], other[2], now); !errors.Is(err, errAuthMismatch) {
			t.Fatalf("%q: %v", other, err)
		}
	}
}

func TestParseInternalPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in     string
		want   playbackPath
		ts, ok bool
	}{
		{"abc123.m3u8", playbackPath{channelID: "abc123"}, false, true},
		{"abc123.ts.m3u8", playbackPath{channelID: "abc123"}, true, true},
		{"abc123/video1_stream.m3u8", playbackPath{channelID: "abc123", file: "video1_stream.m3u8"}, false, true},
		{"abc123/480p30/x_video1_part3.mp4", playbackPath{channelID: "abc123", rendition: "480p30", file: "x_video1_part3.mp4"}, false, true},
		{"abc123/main_stream.m3u8", playbackPath{channelID: "abc123", file: "main_stream.m3u8"}, false, true},
		{"abc123/", playbackPath{}, false, false},
		{"abc123", playbackPath{}, false, false},
		{".m3u8", playbackPath{}, false, false},
		{"a.b.m3u8", playbackPath{}, false, false},
		{"us-east-1.123.channel.abc123.m3u8", playbackPath{}, false, false},
		{"abc123/../x.mp4", playbackPath{}, false, false},
		{"abc123/index.m3u8", playbackPath{}, false, false},
	}
	for _, tc := range cases {
		p, ts, ok := parseInternalPath(tc.in)
		if p != tc.want || ts != tc.ts || ok != tc.ok {
			t.Errorf("%q: %+v %v %v, want %+v %v %v", tc.in, p, ts, ok, tc.want, tc.ts, tc.ok)
		}
	}
	if internalPath(InternalPathPrefix+"abc.m3u8") != "abc.m3u8" || internalPath("/abc.m3u8") != "abc.m3u8" {
		t.Fatal("internalPath")
	}
}

// FuzzClusterAuth: no header but the one made with the secret for the
// request passes, and nothing panics.
func FuzzClusterAuth(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(signCluster(testSecret, "GET", "a/b.mp4", "", now), "a/b.mp4")
	f.Add("v1.1800000060."+strings.Repeat("ab", 32), "a/b.mp4")
	f.Add("v1..", "")
	f.Add("v1.1.1.1", "x")
	f.Fuzz(func(t *testing.T, header, path string) {
		exp, mac, err := parseClusterAuth(header)
		if err == nil && (len(mac) != 32 || exp < 0) {
			t.Fatalf("parsed %d, %d-byte MAC", exp, len(mac))
		}
		err = verifyCluster(testSecret, header, "GET", path, "", now)
		if err != nil {
			return
		}
		want := fmt.Sprintf("v1.%d.%x", exp, clusterMAC(testSecret, "GET", path, "", exp))
		if !strings.EqualFold(header, want) {
			t.Fatalf("%q accepted for %q", header, path)
		}
	})
}

func FuzzParseInternalPath(f *testing.F) {
	for _, s := range []string{"abc123.m3u8", "abc123.ts.m3u8", "abc123/video1_stream.m3u8", "abc/480p30/x_video1_part3.mp4", "a/b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ts, ok := parseInternalPath(s)
		if !ok {
			return
		}
		if !isChannelID(p.channelID) || (ts && p.file != "") {
			t.Fatalf("%q: %+v ts=%v", s, p, ts)
		}
		if p.file != "" && (strings.Contains(p.file, "/") || strings.HasPrefix(p.file, ".")) {
			t.Fatalf("%q: file %q", s, p.file)
		}
	})
}

func TestConfigureOriginServer(t *testing.T) {
	t.Parallel()
	var srv http.Server
	ConfigureOriginServer(&srv)
	if p := srv.Protocols; p == nil || !p.HTTP1() || !p.HTTP2() || !p.UnencryptedHTTP2() {
		t.Fatalf("protocols %v", srv.Protocols)
	}
	if srv.HTTP2 == nil || srv.HTTP2.MaxConcurrentStreams != originMaxStreams {
		t.Fatalf("HTTP/2 config %+v", srv.HTTP2)
	}
	// What was set stays.
	var only http.Protocols
	only.SetHTTP1(true)
	srv = http.Server{Protocols: &only, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 5000}}
	ConfigureOriginServer(&srv)
	if p := srv.Protocols; !p.HTTP1() || p.HTTP2() || !p.UnencryptedHTTP2() || srv.HTTP2.MaxConcurrentStreams != 5000 {
		t.Fatalf("protocols %v, streams %d", p, srv.HTTP2.MaxConcurrentStreams)
	}
}
