package stage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestParseUserAgent(t *testing.T) {
	cases := []struct {
		name, ua                   string
		browser, bv, os, osVersion string
	}{
		{"headless chromium on linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
			"Chrome Headless", "156.0.0.0", "Linux", ""},
		{"chrome on windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			"Chrome", "131.0.0.0", "Windows", "10.0"},
		{"chrome on macos", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			"Chrome", "131.0.0.0", "macOS", "10.15.7"},
		{"chrome on android", "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
			"Chrome", "131.0.0.0", "Android", "14"},
		{"chrome on chrome os", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			"Chrome", "131.0.0.0", "Chrome OS", "14541.0.0"},
		{"chrome on ios", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
			"Chrome", "131.0.6778.73", "iOS", "17.4"},
		{"chromium", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/120.0.6099.199 Chrome/120.0.6099.199 Safari/537.36",
			"Chromium", "120.0.6099.199", "Linux", ""},
		{"edge on windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
			"Edge", "131.0.2903.86", "Windows", "10.0"},
		{"firefox on linux", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "133.0", "Linux", ""},
		{"firefox on macos", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "133.0", "macOS", "10.15"},
		{"safari on macos", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
			"Safari", "17.4", "macOS", "10.15.7"},
		{"safari on ipad", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			"Safari", "17.4", "iOS", "17.4"},
		{"opera is not taken for chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0",
			"", "", "Windows", "10.0"},
		{"samsung internet", "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
			"", "", "Android", "14"},
		{"android without a version", "Mozilla/5.0 (Linux; Android; K) Chrome/131.0.0.0", "Chrome", "131.0.0.0", "Android", ""},
		{"a program", "Go-http-client/1.1", "", "", "", ""},
		{"curl", "curl/8.5.0", "", "", "", ""},
		{"version without safari", "Something Version/3.0", "", "", "", ""},
		{"token without a version", "Chrome/ (X11; Linux)", "", "", "Linux", ""},
		{"empty", "", "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ParseUserAgent(c.ua)
			want := Client{BrowserName: c.browser, BrowserVersion: c.bv, OSName: c.os, OSVersion: c.osVersion}
			if got != want {
				t.Errorf("ParseUserAgent(%q) = %+v, want %+v", c.ua, got, want)
			}
		})
	}
}

func TestClientOf(t *testing.T) {
	cases := []struct{ sdk, want string }{
		{"1.41.0", "1.41.0"},
		{" 1.41.0 ", "1.41.0"},
		{"", ""},
		{"1.41.0; DROP TABLE", ""},
		{"<script>", ""},
		{"123456789012345678901234567890123", ""}, // too long
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/whip", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
		r.Header.Set("X-Stages-SDK", c.sdk)
		got := clientOf(r)
		want := Client{BrowserName: "Firefox", BrowserVersion: "133.0", OSName: "Linux", SDKVersion: c.want, Protocol: ProtocolWHIP}
		if got != want {
			t.Errorf("X-Stages-SDK %q: %+v, want %+v", c.sdk, got, want)
		}
	}
}

func TestClientMerge(t *testing.T) {
	c := Client{BrowserName: "Chrome", BrowserVersion: "1", Protocol: ProtocolWHIP}
	if !c.merge(Client{BrowserName: "Firefox", SDKVersion: "1.41.0", Protocol: ProtocolWHIP}) {
		t.Error("merge of a new SDK version: no change")
	}
	if c != (Client{BrowserName: "Chrome", BrowserVersion: "1", SDKVersion: "1.41.0", Protocol: ProtocolWHIP}) {
		t.Errorf("merged %+v", c)
	}
	if c.merge(Client{BrowserName: "Edge", SDKVersion: "2"}) {
		t.Error("merge of known fields changed them")
	}
}

// attributeRE is IVS's ParticipantClientAttribute.
var attributeRE = regexp.MustCompile(`^[a-zA-Z0-9-_.,:;\s]{0,128}$`)

func FuzzParseUserAgent(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Version/17.4 Safari/604.1")
	f.Add("Android Windows NT Mac OS X CrOS Linux Edg/ Firefox/1")
	f.Fuzz(func(t *testing.T, ua string) {
		c := ParseUserAgent(ua)
		for _, v := range []string{c.BrowserName, c.BrowserVersion, c.OSName, c.OSVersion} {
			if !attributeRE.MatchString(v) {
				t.Fatalf("ParseUserAgent(%q) gave %q, not a ParticipantClientAttribute", ua, v)
			}
		}
		if (c.BrowserName == "") != (c.BrowserVersion == "") {
			t.Fatalf("ParseUserAgent(%q): a browser without its version or the reverse: %+v", ua, c)
		}
	})
}

// A join over the events WebSocket tells the browser and OS (its
// User-Agent); the SDK's version comes with its first WHIP request and is
// added (ClientUpdated), once; a WHIP-only publisher's join carries all.
func TestClientOfParticipants(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice := m.auth.add("alice", nil)
	const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, m.sdkURL(), &websocket.DialOptions{Subprotocols: []string{alice},
		HTTPHeader: http.Header{"User-Agent": {ua}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	joined := Client{BrowserName: "Chrome Headless", BrowserVersion: "156.0.0.0", OSName: "Linux", Protocol: ProtocolWHIP}
	eventually(t, 5*time.Second, "the join", func() bool { return m.life.has("joined alice first=true") })
	if got := m.life.client("alice"); got != joined {
		t.Fatalf("joined with %+v, want %+v", got, joined)
	}
	// The SDK's publish (its offer refused here: the version counts all
	// the same, the participant is connected).
	post := func(tok string) {
		req, _ := http.NewRequest(http.MethodPost, m.whip+"/publish/alice", strings.NewReader("v=0 not sdp"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Stages-SDK", "1.41.0")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	post(alice)
	post(alice)
	want := joined
	want.SDKVersion = "1.41.0"
	eventually(t, 5*time.Second, "the SDK version", func() bool { return m.life.client("alice") == want })
	n := 0
	for _, c := range m.life.snapshot() {
		if strings.HasPrefix(c, "client alice") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d ClientUpdated calls, want 1: %v", n, m.life.snapshot())
	}
}
