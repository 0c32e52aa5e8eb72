package whip

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/rtc"
)

// sdkBody is a /v1/offer body as the SDK posts it.
func sdkBody(sdp, key string, w, h, fps, kbps int) string {
	desc, _ := json.Marshal(map[string]string{"type": "offer", "sdp": sdp})
	b, _ := json.Marshal(map[string]any{"offer": base64.StdEncoding.EncodeToString(desc), "streamKey": key,
		"maxResolution": map[string]int{"width": w, "height": h}, "maxFramerate": fps, "maxBitrate": kbps})
	return string(b)
}

func TestParseOffer(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name string
		body string
		want broadcastOffer // zero: refused with 400
	}{
		{"BASIC_LANDSCAPE", sdkBody("v=0\r\n", "sk_us-east-1_abc", 852, 480, 30, 1500),
			broadcastOffer{sdp: "v=0\r\n", key: "sk_us-east-1_abc", width: 852, height: 480, fps: 30, kbps: 1500}},
		{"only offer and key", `{"offer":"` + b64(`{"type":"offer","sdp":"v=0"}`) + `","streamKey":"k","congestionMode":"balanced"}`,
			broadcastOffer{sdp: "v=0", key: "k"}},
		{"not JSON", "v=0\r\n", broadcastOffer{}},
		{"no offer", `{"streamKey":"k"}`, broadcastOffer{}},
		{"no key", `{"offer":"` + b64(`{"type":"offer","sdp":"v=0"}`) + `"}`, broadcastOffer{}},
		{"key with a space", `{"offer":"` + b64(`{"type":"offer","sdp":"v=0"}`) + `","streamKey":"a b"}`, broadcastOffer{}},
		{"offer not base64", `{"offer":"%%%","streamKey":"k"}`, broadcastOffer{}},
		{"offer not JSON", `{"offer":"` + b64("v=0") + `","streamKey":"k"}`, broadcastOffer{}},
		{"an answer", `{"offer":"` + b64(`{"type":"answer","sdp":"v=0"}`) + `","streamKey":"k"}`, broadcastOffer{}},
		{"negative bitrate", strings.Replace(sdkBody("v=0", "k", 852, 480, 30, 1500), "1500", "-1", 1), broadcastOffer{}},
		{"huge width", strings.Replace(sdkBody("v=0", "k", 852, 480, 30, 1500), "852", "1e300", 1), broadcastOffer{}},
		{"width a string", strings.Replace(sdkBody("v=0", "k", 852, 480, 30, 1500), "852", `"852"`, 1), broadcastOffer{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOffer([]byte(tc.body))
			if tc.want == (broadcastOffer{}) {
				var he *rtc.HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Msg == "" {
					t.Fatalf("parseOffer = %+v, %v; want a 400", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseOffer = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseOffer: any body is refused with a 400 that says why, or parsed
// into an offer and a key that a claim may use and settings in range.
func FuzzParseOffer(f *testing.F) {
	f.Add(sdkBody(chromeLikeOffer, "sk_us-east-1_abc", 852, 480, 30, 1500))
	f.Add(`{"offer":"e30=","streamKey":"k"}`)
	f.Add(`{"maxResolution":null}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		o, err := parseOffer([]byte(body))
		if err != nil {
			var he *rtc.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Msg == "" {
				t.Fatalf("a refusal without a 400 and a reason: %v", err)
			}
			return
		}
		if o.sdp == "" || !validKey(o.key) || o.width < 0 || o.width > maxDeclaredEdge || o.height < 0 ||
			o.height > maxDeclaredEdge || o.fps < 0 || o.fps > maxDeclaredFPS || o.kbps < 0 || o.kbps > maxDeclaredKbps {
			t.Fatalf("accepted %+v", o)
		}
	})
}

// TestDeclaredCap: the presets of each channel type pass and are capped at
// their own bit rate; a preset over the channel type's limit is refused.
func TestDeclaredCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ           string
		width, height int64
		kbps          int64
		want          int64 // 0: refused
	}{
		{ivs.TypeBasic, 852, 480, 1500, 1500},        // BASIC_LANDSCAPE
		{ivs.TypeBasic, 480, 852, 1500, 1500},        // BASIC_PORTRAIT
		{ivs.TypeBasic, 1920, 1080, 3500, 3500},      // BASIC_FULL_HD_LANDSCAPE
		{ivs.TypeBasic, 1920, 1080, 8500, 0},         // STANDARD_LANDSCAPE on BASIC
		{ivs.TypeBasic, 852, 480, 3500, 0},           // 3.5 Mbps at 480p on BASIC
		{ivs.TypeBasic, 852, 480, 1000, 1000},        // a custom, lower bit rate
		{ivs.TypeBasic, 0, 0, 0, 1500},               // nothing declared
		{ivs.TypeStandard, 1920, 1080, 8500, 8500},   // STANDARD_LANDSCAPE
		{ivs.TypeStandard, 852, 480, 1500, 1500},     // BASIC_LANDSCAPE on STANDARD
		{ivs.TypeAdvancedHD, 1920, 1080, 8500, 8500}, //
		{ivs.TypeStandard, 2560, 1440, 8500, 0},      // over 1080p
		{ivs.TypeStandard, 1920, 1080, 9000, 0},      // over 8.5 Mbps
		{ivs.TypeStandard, 1080, 1920, 8500, 8500},   // portrait
		{ivs.TypeStandard, 1920, 1200, 8500, 0},      // 1920 on a side, over 1080 on the other
		{ivs.TypeStandard, 0, 0, 0, ivs.MaxInputBitrate / 1000},
	}
	for _, tc := range tests {
		got, err := declaredCap(tc.typ, broadcastOffer{width: tc.width, height: tc.height, kbps: tc.kbps})
		if tc.want == 0 {
			var he *rtc.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusUnprocessableEntity || !strings.Contains(he.Msg, "limit") {
				t.Errorf("%s %dx%d %d kbps: %d, %v; want a refusal", tc.typ, tc.width, tc.height, tc.kbps, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %dx%d %d kbps: %d, %v; want %d", tc.typ, tc.width, tc.height, tc.kbps, got, err, tc.want)
		}
	}
}

// fakeRegistry claims with a func.
type fakeRegistry func(ctx context.Context, key string, conn live.ConnInfo) (*live.Publisher, error)

func (f fakeRegistry) Claim(ctx context.Context, key string, conn live.ConnInfo) (*live.Publisher, error) {
	return f(ctx, key, conn)
}

// TestOfferRefusals: each refusal before a peer connection is made is JSON
// as the SDK reads it, with CORS, and leaves no session behind.
func TestOfferRefusals(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	engine, err := rtc.NewEngine(rtc.EngineConfig{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	claims := 0
	reg := fakeRegistry(func(_ context.Context, key string, conn live.ConnInfo) (*live.Publisher, error) {
		claims++
		if conn.Protocol != ProtocolWebRTC || !conn.Secure {
			t.Errorf("ConnInfo %+v", conn)
		}
		switch key {
		case "busy":
			return nil, live.ErrChannelBusy
		case "throttled":
			return nil, live.ErrThrottled
		}
		return nil, live.ErrUnknownKey
	})
	s := New(Config{Engine: engine, Registry: reg})
	defer s.Close()
	h := s.WithOffer(http.NotFoundHandler())
	body := func(key string) string { return sdkBody(chromeLikeOffer, key, 852, 480, 30, 1500) }
	tests := []struct {
		name, method, path, ctype, body string
		status, code                    int
		claims                          int // Claim calls it makes
	}{
		{"preflight", http.MethodOptions, "/v1/offer", "", "", http.StatusNoContent, 0, 0},
		{"preflight, endpoint with a slash", http.MethodOptions, "//v1/offer", "", "", http.StatusNoContent, 0, 0},
		{"unknown key", http.MethodPost, "/v1/offer", "application/json", body("sk_nope"), http.StatusUnauthorized, codeInvalidStreamKey, 1},
		{"unknown key, path prefix", http.MethodPost, "/prefix/x/v1/offer", "application/json", body("sk_nope"), http.StatusUnauthorized, codeInvalidStreamKey, 1},
		{"busy", http.MethodPost, "//v1/offer", "application/json", body("busy"), http.StatusConflict, 0, 1},
		{"throttled", http.MethodPost, "/v1/offer", "application/json", body("throttled"), http.StatusTooManyRequests, 0, 1},
		{"malformed", http.MethodPost, "/v1/offer", "application/json", `{"offer":`, http.StatusBadRequest, 0, 0},
		{"bad SDP", http.MethodPost, "/v1/offer", "application/json", sdkBody("hello", "k", 852, 480, 30, 1500), http.StatusBadRequest, 0, 0},
		{"no H.264 or VP8", http.MethodPost, "/v1/offer", "", sdkBody(strings.NewReplacer("H264", "XX", "VP8", "YY").Replace(chromeLikeOffer), "k", 852, 480, 30, 1500),
			http.StatusUnsupportedMediaType, 0, 0},
		{"oversize", http.MethodPost, "/v1/offer", "application/json", `{"offer":"` + strings.Repeat("A", maxOfferBody) + `"}`,
			http.StatusRequestEntityTooLarge, 0, 0},
		{"not JSON", http.MethodPost, "/v1/offer", "application/sdp", chromeLikeOffer, http.StatusUnsupportedMediaType, 0, 0},
		{"GET", http.MethodGet, "/v1/offer", "", "", http.StatusMethodNotAllowed, 0, 0},
	}
	for _, tc := range tests {
		before := claims
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, res.StatusCode, tc.status, b)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
			t.Errorf("%s: no CORS: %v", tc.name, res.Header)
		}
		if claims-before != tc.claims {
			t.Errorf("%s: %d claims, want %d", tc.name, claims-before, tc.claims)
		}
		if tc.status == http.StatusNoContent {
			continue
		}
		var e sdkError
		if err := json.Unmarshal(b, &e); err != nil || e.Message == "" || e.Code != tc.code ||
			res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: body %q (%v), want JSON with a message and code %d", tc.name, b, err, tc.code)
		}
	}
	// Other paths are the wrapped handler's.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/offers", nil))
	if w.Code != http.StatusNotFound || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("/v1/offers: %d %v", w.Code, w.Header())
	}
}
