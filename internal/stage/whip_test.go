package stage

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/test/e2e/harness"
)

func TestBearer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"BEARER abc.def.ghi", "abc.def.ghi"},
		{"Basic abc", ""},
		{"Bearer", ""},
		{"", ""},
		{"abc", ""},
	} {
		if got := bearer(c.in); got != c.want {
			t.Errorf("bearer(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLayerPref(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want sfu.LayerPreference
	}{{"lowest", sfu.LayerLowest}, {" LOWEST", sfu.LayerLowest}, {"highest", sfu.LayerHighest}, {"", sfu.LayerHighest}, {"mid", sfu.LayerHighest}} {
		if got := layerPref(c.in); got != c.want {
			t.Errorf("layerPref(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The headers a WHIP request's parsing reads: no panic, and a token has
// no surrounding space.
func FuzzWHIPHeaders(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer\t x", "Bearer ", " ", "lowest", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if tok := bearer(h); tok != strings.TrimSpace(tok) {
			t.Fatalf("bearer(%q) = %q", h, tok)
		}
		_ = layerPref(h)
		_, _ = parseLayerSelection([]byte(h))
	})
}

// mediaEnv is an env whose Stages has a loopback media engine and its
// WHIP routes under /whip.
type mediaEnv struct {
	*env
	whip    string
	metrics *sfu.Metrics
}

func newMediaEnv(t *testing.T) *mediaEnv {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine, err := rtc.NewEngine(rtc.EngineConfig{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, auth: &fakeAuth{tokens: map[string]Participant{}, errs: map[string]error{}}, life: &recorder{}}
	metrics := &sfu.Metrics{}
	e.s = New(Config{Auth: e.auth, Lifecycle: e.life, Media: engine, MediaMetrics: metrics})
	mux := http.NewServeMux()
	mux.Handle("GET /events", e.s)
	e.s.RegisterWHIP(mux, "/whip")
	hs := httptest.NewServer(mux)
	e.hs = hs
	t.Cleanup(func() { e.s.Close(); hs.Close(); engine.Close(); _ = udp.Close() })
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/events"
	return &mediaEnv{env: e, whip: hs.URL + "/whip", metrics: metrics}
}

// post sends body to path with token and content type, and returns the
// status and the refusal code (0 for none).
func (m *mediaEnv) post(path, token, ctype, body string) (int, int, http.Header) {
	m.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.whip+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct{ Code int }
	_ = json.NewDecoder(res.Body).Decode(&r)
	return res.StatusCode, r.Code, res.Header
}

// Refusals come with IVS's codes, CORS, and the error events IVS records;
// nothing is left held by them.
func TestWHIPRefusals(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice := m.auth.add("alice", nil)
	viewer := m.auth.add("viewer", nil)
	m.auth.mu.Lock()
	p := m.auth.tokens[viewer]
	p.Publish = false
	m.auth.tokens[viewer] = p
	m.auth.tokens["expired"] = Participant{}
	m.auth.errs["expired"] = ErrTokenExpired
	m.auth.mu.Unlock()
	const sdp = "application/sdp"
	offer := "v=0\r\n"

	// Not connected yet: a subscribe needs the socket; a publish joins
	// without it (as OBS does), and leaves again when it fails.
	if st, code, _ := m.post("/subscribe/bob", viewer, sdp, offer); st != http.StatusConflict || code != whipUnspecified {
		t.Errorf("subscribe before joining: %d %d", st, code)
	}
	if st, code, _ := m.post("/publish/alice", alice, sdp, offer); st != http.StatusBadRequest || code != whipUnspecified {
		t.Errorf("a bad publish before joining: %d %d", st, code)
	}
	eventually(t, 5*time.Second, "alice to join and leave", func() bool {
		return m.life.has("joined alice first=true") && m.life.has("left alice closed last=true")
	})
	if ps := m.s.Participants(testARN); len(ps) != 0 {
		t.Errorf("left on the roster: %v", ps)
	}
	m.join(alice)
	m.join(viewer)
	fillers := make([]string, 0, MaxPublishers)
	for i := range MaxPublishers {
		id := "f" + string(rune('a'+i))
		m.auth.add(id, nil)
		fillers = append(fillers, id)
	}
	cases := []struct {
		name, path, token, ctype, body string
		status, code                   int
	}{
		{"no token", "/publish/alice", "", sdp, offer, http.StatusUnauthorized, whipUnspecified},
		{"unknown token", "/publish/alice", "nope", sdp, offer, http.StatusUnauthorized, whipUnspecified},
		{"expired token", "/publish/alice", "expired", sdp, offer, http.StatusUnauthorized, whipTokenExpired},
		{"another's path", "/publish/viewer", alice, sdp, offer, http.StatusForbidden, whipNoPermissions},
		{"no publish capability", "/publish/viewer", viewer, sdp, offer, http.StatusForbidden, whipNoPermissions},
		{"no publish capability, bare URL", "", viewer, sdp, offer, http.StatusForbidden, whipNoPermissions},
		{"not SDP", "/publish/alice", alice, "text/plain", offer, http.StatusUnsupportedMediaType, whipUnspecified},
		{"empty offer", "/publish/alice", alice, sdp, "", http.StatusBadRequest, whipUnspecified},
		{"offer too large", "/publish/alice", alice, sdp, strings.Repeat("a", 65<<10), http.StatusRequestEntityTooLarge, whipUnspecified},
		{"not an offer", "/publish/alice", alice, sdp, offer, http.StatusBadRequest, whipUnspecified},
		{"unknown publisher", "/subscribe/nobody", viewer, sdp, offer, http.StatusNotFound, whipRemoteNotFound},
		{"publisher not publishing", "/subscribe/alice", viewer, sdp, offer, http.StatusNotFound, whipRemoteNotFound},
		{"itself", "/subscribe/viewer", viewer, sdp, offer, http.StatusNotFound, whipRemoteNotFound},
	}
	for _, c := range cases {
		st, code, h := m.post(c.path, c.token, c.ctype, c.body)
		if st != c.status || code != c.code {
			t.Errorf("%s: %d code %d, want %d code %d", c.name, st, code, c.status, c.code)
		}
		if h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Location") {
			t.Errorf("%s: CORS headers %v", c.name, h)
		}
	}
	// A failed publish holds no place: twelve others can reserve, and a
	// thirteenth is refused.
	for _, id := range fillers {
		tok := ""
		m.auth.mu.Lock()
		for k, p := range m.auth.tokens {
			if p.ID == id {
				tok = k
			}
		}
		m.auth.mu.Unlock()
		m.join(tok)
	}
	for _, id := range fillers[:MaxPublishers-1] {
		if err := m.s.ReservePublish(testARN, id); err != nil {
			t.Fatalf("reserve %s: %v", id, err)
		}
	}
	if err := m.s.ReservePublish(testARN, "alice"); err != nil {
		t.Fatalf("alice's place was held by her failed publishes: %v", err)
	}
	last := m.auth.add(fillers[MaxPublishers-1], nil)
	if st, code, _ := m.post("", last, sdp, offer); st != http.StatusForbidden || code != whipStageAtCapacity {
		t.Errorf("13th publisher: %d %d", st, code)
	}
	eventually(t, 5*time.Second, "the error events", func() bool {
		return m.life.has("publish failed viewer INSUFFICIENT_CAPABILITIES") &&
			m.life.has("subscribe failed viewer to nobody PUBLISHER_NOT_FOUND") &&
			m.life.has("publish failed "+fillers[MaxPublishers-1]+" QUOTA_EXCEEDED")
	})
	// Preflight and DELETE of an unknown session.
	req, _ := http.NewRequest(http.MethodOptions, m.whip+"/subscribe/x", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "X-Stages-Trace-ID") {
		t.Errorf("preflight %d %v", res.StatusCode, res.Header)
	}
	req, _ = http.NewRequest(http.MethodDelete, m.whip+"/session/nope", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE unknown: %d", res.StatusCode)
	}
}

// Without a media engine the routes answer 503.
func TestWHIPWithoutMedia(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	mux := http.NewServeMux()
	e.s.RegisterWHIP(mux, "/whip")
	hs := httptest.NewServer(mux)
	defer hs.Close()
	if st := statusOf(t, http.MethodPost, hs.URL+"/whip/publish/x", "application/sdp", "v=0"); st != http.StatusServiceUnavailable {
		t.Errorf("%d", st)
	}
}

// A publish and a subscription through the routes: the roster shows the
// publisher publishing once its peer connection is up, the Lifecycle
// hears both; the publisher's disconnection ends its media and the
// subscription (recorded as stopped); the stage emptying closes its room.
func TestWHIPPublishSubscribe(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice, bob := m.auth.add("alice", nil), m.auth.add("bob", nil)
	ca, _ := m.join(alice)
	cb, _ := m.join(bob)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clip := harness.MakeVP8Clip(t, "160x120", 15, time.Second)
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, clip)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if pub.Status != http.StatusCreated || !strings.HasPrefix(pub.Location, "/whip/session/") {
		t.Fatalf("publish: %d %q %s", pub.Status, pub.Location, pub.Body)
	}
	cb.state(func(st stageState) bool { p, _ := find(st, "alice"); return p.IsPublishing })
	view, err := harness.WatchWHEPWith(ctx, m.whip+"/subscribe/alice", harness.WatchOptions{Bearer: bob})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	eventually(t, 20*time.Second, "frames at bob", func() bool { return len(view.Frames()) > 5 })
	eventually(t, 5*time.Second, "the Lifecycle's calls", func() bool {
		return m.life.has("published alice true") && m.life.has("subscribed bob to alice true")
	})
	// The layer extension: GET lists the one (not simulcast) layer,
	// selected; POST {} is the automatic choice; an unknown layer is 400.
	res, err := http.Get(m.hs.URL + view.Location + "/layer")
	if err != nil {
		t.Fatal(err)
	}
	var ls struct{ Layers []sfu.Layer }
	if err := json.NewDecoder(res.Body).Decode(&ls); err != nil || res.StatusCode != http.StatusOK || len(ls.Layers) != 1 ||
		!ls.Layers[0].Selected || ls.Layers[0].Width != 160 {
		t.Errorf("GET layer: %d %+v %v", res.StatusCode, ls, err)
	}
	res.Body.Close()
	for body, want := range map[string]int{`{}`: http.StatusNoContent, `{"mediaId":"1","encodingId":"nope"}`: http.StatusBadRequest,
		`[`: http.StatusBadRequest} {
		if st := statusOf(t, http.MethodPost, m.hs.URL+view.Location+"/layer", "application/json", body); st != want {
			t.Errorf("POST layer %s: %d, want %d", body, st, want)
		}
	}
	if res, err := http.Get(m.hs.URL + pub.Location + "/layer"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("GET layer of a publish: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
	if n := m.metrics.Publishers.Load(); n != 1 {
		t.Errorf("%d publishers in the SFU", n)
	}
	if err := m.s.Disconnect(testARN, "alice", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	ca.next(typeDisconnect)
	eventually(t, 20*time.Second, "the subscription to end", func() bool {
		return m.life.has("subscribed bob to alice false") && view.PC.ConnectionState() != webrtc.PeerConnectionStateConnected
	})
	m.s.mu.Lock()
	sessions := len(m.s.sessions)
	m.s.mu.Unlock()
	if sessions != 0 {
		t.Errorf("%d WHIP sessions left", sessions)
	}
	eventually(t, 10*time.Second, "the SFU to be empty", func() bool {
		return m.metrics.Publishers.Load() == 0 && m.metrics.Subscriptions.Load() == 0
	})
	// Bob leaves: the stage empties and its room closes.
	_ = cb.ws.Close(1000, "")
	eventually(t, 10*time.Second, "the stage to empty", func() bool { return len(m.s.Participants(testARN)) == 0 })
}

// A publisher without the events socket (OBS, with its token alone, at the
// bare URL) is on the roster while its publish lasts: the others see it
// publish, it may be subscribed to, and a DELETE makes it leave.
func TestWHIPPublishWithoutSocket(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	obs, bob := m.auth.add("obs", nil), m.auth.add("bob", nil)
	cb, _ := m.join(bob)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := harness.PublishWHIP(ctx, m.whip, obs, harness.MakeVP8Clip(t, "160x120", 15, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if pub.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", pub.Status, pub.Body)
	}
	cb.state(func(st stageState) bool { p, _ := find(st, "obs"); return p.IsPublishing })
	view, err := harness.WatchWHEPWith(ctx, m.whip+"/subscribe/obs", harness.WatchOptions{Bearer: bob})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	eventually(t, 20*time.Second, "frames at bob", func() bool { return len(view.Frames()) > 5 })
	if st := statusOf(t, http.MethodDelete, m.hs.URL+pub.Location, "", ""); st != http.StatusOK {
		t.Fatalf("DELETE: %d", st)
	}
	cb.state(func(st stageState) bool { _, ok := find(st, "obs"); return !ok })
	eventually(t, 10*time.Second, "obs's calls", func() bool {
		return m.life.has("joined obs first=false") && m.life.has("published obs true") &&
			m.life.has("published obs false") && m.life.has("left obs closed last=false") &&
			m.life.has("subscribed bob to obs false")
	})
}

// After Close the routes refuse, and nothing is recorded.
func TestWHIPAfterClose(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice := m.auth.add("alice", nil)
	m.s.Close()
	if st, code, _ := m.post("/publish/alice", alice, "application/sdp", "v=0\r\n"); st != http.StatusServiceUnavailable || code != whipInternal {
		t.Errorf("publish after Close: %d %d", st, code)
	}
	if st := statusOf(t, http.MethodDelete, m.whip+"/session/x", "", ""); st != http.StatusServiceUnavailable {
		t.Errorf("DELETE after Close: %d", st)
	}
}

// Any publish request, whatever its path, headers and body: an answer or a
// JSON refusal with CORS, and no participant left behind.
func FuzzWHIPPublish(f *testing.F) {
	for _, c := range [][3]string{
		{"/whip", "application/sdp", "v=0\r\n"},
		{"/whip/publish/p", "application/sdp", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"},
		{"/whip/publish/q", "application/sdp; charset=x", "\x00"},
		{"/whip/subscribe/p", "text/plain", ""},
	} {
		f.Add(c[0], c[1], c[2])
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer udp.Close()
	engine, err := rtc.NewEngine(rtc.EngineConfig{UDP: udp})
	if err != nil {
		f.Fatal(err)
	}
	defer engine.Close()
	auth := &fakeAuth{tokens: map[string]Participant{}, errs: map[string]error{}}
	tok := auth.add("p", nil)
	s := New(Config{Auth: auth, Media: engine})
	defer s.Close()
	mux := http.NewServeMux()
	s.RegisterWHIP(mux, "/whip")
	f.Fuzz(func(t *testing.T, path, ctype, body string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(http.MethodPost, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		res := w.Result()
		switch {
		case res.StatusCode == http.StatusCreated:
			// A real answer: end it.
			d := httptest.NewRecorder()
			mux.ServeHTTP(d, httptest.NewRequest(http.MethodDelete, "http://x"+res.Header.Get("Location"), nil))
			if d.Code != http.StatusOK {
				t.Fatalf("DELETE %s: %d", res.Header.Get("Location"), d.Code)
			}
		case res.StatusCode == http.StatusNotFound && res.Header.Get("Content-Type") != "application/json":
			// The mux's own 404 for a path that is no route.
		case res.StatusCode == http.StatusMethodNotAllowed, res.StatusCode/100 == 3: // the mux's (path cleaning)
		default:
			var r struct{ Code int }
			if json.NewDecoder(res.Body).Decode(&r) != nil || r.Code == 0 || res.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: %d %v %s", path, res.StatusCode, res.Header, w.Body.String())
			}
			if res.StatusCode == http.StatusInternalServerError {
				t.Fatalf("%s: internal error for %q", path, body)
			}
		}
		eventually(t, 10*time.Second, "the participant to leave", func() bool { return len(s.Participants(testARN)) == 0 })
	})
}

// A republish replaces the publish; one that fails leaves the participant
// not publishing (its old publish is gone), its place free.
func TestWHIPRepublishFails(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice := m.auth.add("alice", nil)
	ca, _ := m.join(alice)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, harness.MakeVP8Clip(t, "160x120", 15, time.Second))
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %v %+v", err, pub)
	}
	defer pub.Close()
	ca.state(func(st stageState) bool { p, _ := find(st, "alice"); return p.IsPublishing })
	if st, code, _ := m.post("/publish/alice", alice, "application/sdp", "v=0\r\n"); st != http.StatusBadRequest || code != whipUnspecified {
		t.Fatalf("bad republish: %d %d", st, code)
	}
	ca.state(func(st stageState) bool { p, _ := find(st, "alice"); return !p.IsPublishing })
	m.s.mu.Lock()
	slot := m.s.stages[testARN].members["alice"].slot
	m.s.mu.Unlock()
	if slot {
		t.Error("the failed republish kept a place")
	}
	eventually(t, 10*time.Second, "the SFU to be empty", func() bool { return m.metrics.Publishers.Load() == 0 })
}

// A token exchanged for one without PUBLISH ends the publish.
func TestWHIPExchangeDropsPublish(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice := m.auth.add("alice", nil)
	ca, _ := m.join(alice)
	m.auth.mu.Lock()
	p := m.auth.tokens[alice]
	p.Publish = false
	m.auth.tokens["viewer-alice"] = p
	m.auth.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, harness.MakeVP8Clip(t, "160x120", 15, time.Second))
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %v %+v", err, pub)
	}
	defer pub.Close()
	ca.state(func(st stageState) bool { p, _ := find(st, "alice"); return p.IsPublishing })
	ca.send(map[string]any{"type": "aws:ivs:EXCHANGE_TOKEN", "payload": map[string]string{"oldToken": alice, "newToken": "viewer-alice",
		"requestId": "r", "traceId": "t"}})
	ca.state(func(st stageState) bool { p, _ := find(st, "alice"); return !p.IsPublishing })
	eventually(t, 10*time.Second, "the publisher to stop", func() bool {
		return m.metrics.Publishers.Load() == 0 && m.life.has("published alice false")
	})
}

// beaconPath is the path of the session-delete Link of the session at
// location: its participant's socket's beacon, or the session's own.
func (m *mediaEnv) beaconPath(location string) string {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if ms := m.s.sessions[strings.TrimPrefix(location, "/whip/session/")]; ms != nil && ms.conn != nil {
		return "/whip/beacon/" + ms.conn.beacon
	}
	return location + "/delete"
}

// beacon posts a session-delete beacon to path as navigator.sendBeacon
// does (text/plain) and returns the status.
func (m *mediaEnv) beacon(path, body string) int {
	m.t.Helper()
	return statusOf(m.t, http.MethodPost, m.hs.URL+path, "text/plain;charset=UTF-8", body)
}

// The session-delete beacon of an unloading page: refused without the
// session's participant's token; with it, the participant leaves the stage
// at once (its socket, still open here as a lost close would leave it, is
// closed). The beacon of a socket replaced by a newer one (a reloaded
// page) is unknown. A WHIP-only publisher's beacon ends its session, and
// so its place.
func TestSessionDeleteBeacon(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice, bob := m.auth.add("alice", nil), m.auth.add("bob", nil)
	ca, _ := m.join(alice)
	cb, _ := m.join(bob)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clip := harness.MakeVP8Clip(t, "160x120", 15, time.Second)
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, clip)
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	defer pub.Close()
	cb.state(func(st stageState) bool { p, _ := find(st, "alice"); return p.IsPublishing })
	path := m.beaconPath(pub.Location)
	if !strings.HasPrefix(path, "/whip/beacon/") {
		t.Fatalf("alice's session-delete link %s", path)
	}
	for body, want := range map[string]int{
		`{"authorization":"` + bob + `"}`:     http.StatusForbidden,
		`{"authorization":"forged"}`:          http.StatusUnauthorized,
		`{"authorization":""}`:                http.StatusUnauthorized,
		`not json`:                            http.StatusBadRequest,
		strings.Repeat(" ", maxControlBody+1): http.StatusRequestEntityTooLarge,
	} {
		if got := m.beacon(path, body); got != want {
			t.Errorf("beacon %.40q: %d, want %d", body, got, want)
		}
	}
	for _, p := range []string{"/whip/session/nope/delete", "/whip/beacon/nope"} {
		if got := m.beacon(p, `{"authorization":"`+alice+`"}`); got != http.StatusNotFound {
			t.Errorf("beacon to %s: %d", p, got)
		}
	}
	if ps := m.s.Participants(testARN); !slices.Contains(ps, "alice") {
		t.Fatalf("a refused beacon took alice off: %v", ps)
	}
	if got := m.beacon(path, `{"authorization":"Bearer `+alice+`"}`); got != http.StatusNoContent {
		t.Fatalf("alice's beacon: %d", got)
	}
	cb.state(func(st stageState) bool { _, ok := find(st, "alice"); return !ok })
	if code := ca.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("alice's socket closed with %v", code)
	}
	eventually(t, 10*time.Second, "alice's calls", func() bool {
		return m.life.has("published alice false") && m.life.has("left alice closed last=false")
	})

	// A reload: the old page's beacon, the new page's socket.
	carol := m.auth.add("carol", nil)
	m.join(carol)
	pub2, err := harness.PublishWHIP(ctx, m.whip+"/publish/carol", carol, clip)
	if err != nil || pub2.Status != http.StatusCreated {
		t.Fatalf("publish: %+v %v", pub2, err)
	}
	defer pub2.Close()
	cb.state(func(st stageState) bool { p, _ := find(st, "carol"); return p.IsPublishing })
	old := m.beaconPath(pub2.Location)
	m.join(carol) // the reloaded page
	eventually(t, 10*time.Second, "the old socket gone", func() bool { return m.beacon(old, `{"authorization":"`+carol+`"}`) == http.StatusNotFound })
	if ps := m.s.Participants(testARN); !slices.Contains(ps, "carol") {
		t.Fatalf("the old page's beacon took carol off: %v", ps)
	}

	// A WHIP-only publisher (OBS).
	obs := m.auth.add("obs", nil)
	pub3, err := harness.PublishWHIP(ctx, m.whip, obs, clip)
	if err != nil || pub3.Status != http.StatusCreated {
		t.Fatalf("publish: %+v %v", pub3, err)
	}
	defer pub3.Close()
	cb.state(func(st stageState) bool { p, _ := find(st, "obs"); return p.IsPublishing })
	if p := m.beaconPath(pub3.Location); p != pub3.Location+"/delete" {
		t.Fatalf("obs's session-delete link %s", p)
	}
	if got := m.beacon(pub3.Location+"/delete", `{"authorization":"`+obs+`"}`); got != http.StatusNoContent {
		t.Fatalf("obs's beacon: %d", got)
	}
	cb.state(func(st stageState) bool { _, ok := find(st, "obs"); return !ok })
}

// Playback controls pause and play a subscription's media by mid.
func TestPlaybackControls(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice, bob := m.auth.add("alice", nil), m.auth.add("bob", nil)
	m.join(alice)
	m.join(bob)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, harness.MakeVP8Clip(t, "160x120", 15, time.Second))
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	defer pub.Close()
	eventually(t, 10*time.Second, "alice publishing", func() bool { return m.life.has("published alice true") })
	view, err := harness.WatchWHEPWith(ctx, m.whip+"/subscribe/alice", harness.WatchOptions{Bearer: bob})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	eventually(t, 20*time.Second, "frames at bob", func() bool { return len(view.Frames()) > 5 })
	post := func(loc, body string) int {
		return statusOf(t, http.MethodPost, m.hs.URL+loc+"/playback", "application/json", body)
	}
	for _, c := range []struct {
		loc, body string
		want      int
	}{
		{view.Location, `{"pause":["1"]}`, http.StatusNoContent},
		{view.Location, `{"play":["1"]}`, http.StatusNoContent},
		{view.Location, `{"pause":["9"]}`, http.StatusBadRequest},
		{view.Location, `{}`, http.StatusBadRequest},
		{view.Location, `[`, http.StatusBadRequest},
		{pub.Location, `{"pause":["1"]}`, http.StatusNotFound}, // a publish has no playback
		{"/whip/session/nope", `{"pause":["1"]}`, http.StatusNotFound},
	} {
		if got := post(c.loc, c.body); got != c.want {
			t.Errorf("playback %s on %s: %d, want %d", c.body, c.loc, got, c.want)
		}
	}
}

func FuzzControlBodies(f *testing.F) {
	f.Add([]byte(`{"pause":["1"]}`))
	f.Add([]byte(`{"authorization":"Bearer x.y.z"}`))
	f.Add([]byte(`{"play":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if pause, play, err := parsePlayback(b); err == nil && len(pause)+len(play) == 0 {
			t.Fatal("no mid, no error")
		}
		if tok, err := parseBeacon(b); err == nil && tok == "" {
			t.Fatal("no token, no error")
		}
	})
}

// SDP over the socket ("xdp", advertised with media): what the WHIP URL
// names and the offer decide the answer, with HTTP WHIP's codes.
func TestSDPOverSocketRefusals(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	c, st := m.join(m.auth.add("alice", nil))
	if !slices.Contains(st.ServerFeatures, "xdp") {
		t.Fatalf("serverFeatures %v", st.ServerFeatures)
	}
	for i, tc := range []struct {
		url, content string
		status, code int
	}{
		{"https://h/elsewhere/publish/alice", "v=0", http.StatusBadRequest, whipUnspecified},
		{"https://h/whip/publish/alice/x", "v=0", http.StatusBadRequest, whipUnspecified},
		{"https://h/whip/play/alice", "v=0", http.StatusBadRequest, whipUnspecified},
		{"https://h/whip/publish/bob", "v=0", http.StatusForbidden, whipNoPermissions},
		{"https://h/whip/publish/alice", "", http.StatusBadRequest, whipUnspecified},
		{"https://h/whip/publish/alice", "not sdp", http.StatusBadRequest, whipUnspecified},
		{"https://h/whip/subscribe/nobody", "v=0", http.StatusNotFound, whipRemoteNotFound},
		{"%zz", "v=0", http.StatusBadRequest, whipUnspecified},
	} {
		id := fmt.Sprint("r", i)
		c.send(map[string]any{"type": "aws:ivs:SDP_OFFER", "payload": map[string]string{"requestId": id, "whipUrl": tc.url, "content": tc.content}})
		var a sdpAnswerPayload
		if err := json.Unmarshal(c.next(typeSDPAnswer).Payload, &a); err != nil || a.RequestID != id || a.HTTPStatusCode != tc.status ||
			a.ErrorCode != tc.code || a.Content != "" {
			t.Errorf("%s %q: %+v %v, want %d %d", tc.url, tc.content, a, err, tc.status, tc.code)
		}
	}
}

func FuzzWHIPTarget(f *testing.F) {
	s := New(Config{Auth: &fakeAuth{}})
	defer s.Close()
	s.whipPath = "/whip"
	f.Add("https://h/whip/subscribe/abc")
	f.Add("https://h/whip")
	f.Add("/whip/publish/x/y")
	f.Fuzz(func(t *testing.T, raw string) {
		action, id, err := s.whipTarget(raw)
		if err != nil {
			return
		}
		if action != "publish" && action != "subscribe" || (action == "subscribe" && id == "") || strings.Contains(id, "/") {
			t.Fatalf("whipTarget(%q) = %q %q", raw, action, id)
		}
	})
}
