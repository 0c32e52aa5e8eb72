package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/test/e2e/harness"
)

// whipRefusal is a stage WHIP error body.
type whipRefusal struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// postRefused posts an offer and expects a JSON refusal with status and
// code, and CORS headers on it.
func postRefused(ctx context.Context, t *testing.T, url, token, offer string, status, code int) {
	t.Helper()
	got, h, body, err := harness.PostSDP(ctx, url, token, offer)
	if err != nil {
		t.Fatal(err)
	}
	var r whipRefusal
	if got != status || json.Unmarshal([]byte(body), &r) != nil || r.Code != code {
		t.Fatalf("POST %s: %d %s, want %d with code %d", url, got, body, status, code)
	}
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Content-Type") != "application/json" {
		t.Errorf("POST %s refusal headers %v", url, h)
	}
}

// Stage media over WHIP into the SFU, with pion clients and the real
// binary: alice publishes H.264 + Opus at her token's whip_url, bob sees
// her publishing in STAGE_STATE, subscribes and receives her frames
// intact; a SUBSCRIBE-only token may not publish (403 2003), a 13th
// publisher finds the stage full (2005), an unknown publisher is 404 2004;
// the API shows alice published and the participants' PUBLISH_STARTED,
// SUBSCRIBE_STARTED and error events; disconnect-participant ends alice's
// media and bob's subscription.
func TestStageMediaWHIP(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	rt := cli.realtime
	ctx := harness.Context(t, 4*time.Minute)
	hc := s.HTTPSClient(t)

	var created struct {
		Stage struct {
			Arn       string
			Endpoints map[string]string
		}
	}
	rt(&created, "create-stage", "--name", "media")
	arn := created.Stage.Arn
	stageID, events := arn[strings.LastIndex(arn, "/")+1:], created.Stage.Endpoints["events"]
	if w := created.Stage.Endpoints["whip"]; w != "https://"+s.Addrs["https"]+"/stage/whip" {
		t.Fatalf("endpoints.whip = %q", w)
	}
	// The same routes are on the HTTP listener, which pion's client can
	// reach without trusting the data dir's certificate.
	whip := s.Endpoint() + "/stage/whip"
	type token struct{ ParticipantID, Token, UserID string }
	newToken := func(user string, caps ...string) token {
		var pt struct{ ParticipantToken token }
		args := []string{"create-participant-token", "--stage-arn", arn, "--user-id", user}
		if len(caps) > 0 {
			args = append(args, append([]string{"--capabilities"}, caps...)...)
		}
		rt(&pt, args...)
		return pt.ParticipantToken
	}
	alice, bob, carol := newToken("alice"), newToken("bob"), newToken("carol", "SUBSCRIBE")
	join := func(tok token) *stageClient {
		t.Helper()
		ws, err := dialStage(ctx, hc, events, stageID, tok.Token)
		if err != nil {
			t.Fatalf("join %s: %v", tok.UserID, err)
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { _ = ws.CloseNow() })
		return &stageClient{t: t, ws: ws}
	}
	a, b, c := join(alice), join(bob), join(carol)
	b.waitState(ctx, alice.ParticipantID, bob.ParticipantID, carol.ParticipantID)

	// A preflight allows the SDK's headers and exposes Location.
	req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, whip+"/publish/x", nil)
	req.Header.Set("Origin", "https://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header; resp.StatusCode/100 != 2 || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Stages-Initial-Layer-Pref") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Location") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}

	// Alice publishes.
	clip := harness.MakeClip(t, "320x240", 30, 2*time.Second)
	pub, err := harness.PublishWHIP(ctx, whip+"/publish/"+alice.ParticipantID, alice.Token, clip)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Status != http.StatusCreated || !strings.HasPrefix(pub.Location, "/stage/whip/session/") {
		t.Fatalf("publish: %d %q %s", pub.Status, pub.Location, pub.Body)
	}
	t.Cleanup(pub.Close)
	// Bob sees her publishing, and subscribes.
	for {
		m := b.waitState(ctx, alice.ParticipantID, bob.ParticipantID, carol.ParticipantID)
		if m.Payload.Participants[0].IsPublishing {
			break
		}
	}
	view, err := harness.WatchWHEPWith(ctx, whip+"/subscribe/"+alice.ParticipantID, harness.WatchOptions{Bearer: bob.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(view.Close)
	harness.Eventually(t, 30*time.Second, func() error {
		stamped := 0
		for _, f := range view.Frames() {
			if !f.Sent.IsZero() {
				stamped++
			}
		}
		if stamped < 30 || view.AudioPackets() < 20 {
			return fmt.Errorf("%d stamped frames, %d audio packets", stamped, view.AudioPackets())
		}
		return nil
	})
	if v, au := view.Codecs(); v != webrtc.MimeTypeH264 || au != webrtc.MimeTypeOpus {
		t.Errorf("subscribed codecs %s %s", v, au)
	}
	// The answer links the WHEP layer extension; GET lists alice's layer.
	link, _, _ := strings.Cut(strings.TrimPrefix(view.Link, "<"), ">")
	if !strings.HasPrefix(link, whip+"/session/") || !strings.Contains(view.Link, `rel="urn:ietf:params:whep:ext:core:layer"`) {
		t.Errorf("Link %q", view.Link)
	} else {
		var ls struct {
			Layers []struct {
				Width, Height int
				Selected      bool
			}
		}
		if err := getJSON(link, &ls); err != nil || len(ls.Layers) != 1 || ls.Layers[0].Width != 320 || !ls.Layers[0].Selected {
			t.Errorf("GET %s: %+v %v", link, ls, err)
		}
	}
	var lat []time.Duration
	for _, f := range view.Frames() {
		if !f.Sent.IsZero() {
			lat = append(lat, f.Arrived.Sub(f.Sent))
		}
	}
	slices.Sort(lat)
	t.Logf("publish→subscribe frame latency over %d frames: p50 %v p95 %v", len(lat), lat[len(lat)/2], lat[len(lat)*95/100])

	// Refusals: carol may not publish; bob may not publish as alice; nobody
	// publishes as "nobody"; an offer without a token is refused.
	_, offer := pionOffer(t)
	postRefused(ctx, t, whip+"/publish/"+carol.ParticipantID, carol.Token, offer, http.StatusForbidden, 2003)
	postRefused(ctx, t, whip, carol.Token, offer, http.StatusForbidden, 2003)
	postRefused(ctx, t, whip+"/publish/"+alice.ParticipantID, bob.Token, offer, http.StatusForbidden, 2003)
	postRefused(ctx, t, whip+"/subscribe/nobody", bob.Token, offer, http.StatusNotFound, 2004)
	postRefused(ctx, t, whip+"/subscribe/"+carol.ParticipantID, bob.Token, offer, http.StatusNotFound, 2004)
	postRefused(ctx, t, whip+"/subscribe/"+alice.ParticipantID, "", offer, http.StatusUnauthorized, 2001)
	postRefused(ctx, t, whip+"/subscribe/"+alice.ParticipantID, "garbage", offer, http.StatusUnauthorized, 2001)

	// Eleven more publishers (self-signed tokens: cheaper than the CLI),
	// as OBS publishes (the bare URL, without the events socket: each is on
	// the roster while its publish lasts), fill the stage's twelve places;
	// a thirteenth gets 2005.
	priv, kid := importStageKey(t, cli)
	sign := func(jti string) string {
		return signStageToken(t, jwt.SigningMethodES384, priv, kid, arn, jti, time.Now().Add(time.Hour))
	}
	tiny := harness.MakeClip(t, "160x120", 10, time.Second)
	var extra []*harness.WHIPPublisher
	for i := range 12 {
		id := "filler" + strconv.Itoa(i)
		tok := sign(id)
		if i == 11 {
			postRefused(ctx, t, whip, tok, offer, http.StatusForbidden, 2005)
			break
		}
		p, err := harness.PublishWHIP(ctx, whip, tok, tiny)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != http.StatusCreated {
			t.Fatalf("filler %d: %d %s", i, p.Status, p.Body)
		}
		extra = append(extra, p)
	}
	// Bob sees twelve publishing.
	for {
		m, err := b.read(ctx)
		if err != nil {
			t.Fatalf("waiting for twelve publishers: %v", err)
		}
		if m.Type != "STAGE_STATE" {
			continue
		}
		n := 0
		for _, p := range m.Payload.Participants {
			if p.IsPublishing {
				n++
			}
		}
		if n == 12 {
			break
		}
	}
	// DELETE of a Location ends a publish and frees its place: the
	// thirteenth then publishes.
	del, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.Endpoint()+extra[0].Location, nil)
	resp, err = http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	resp, err = http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second DELETE: %d", resp.StatusCode)
	}
	last, err := harness.PublishWHIP(ctx, whip+"/publish/filler11", sign("filler11"), tiny)
	if err != nil || last.Status != http.StatusCreated {
		t.Fatalf("publish after a DELETE: %v %+v", err, last)
	}
	extra = append(extra, last)
	harness.Eventually(t, 30*time.Second, func() error {
		if st := last.PC.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
			return fmt.Errorf("the last publisher is %s", st)
		}
		return nil
	})
	for _, p := range extra {
		p.Close()
	}

	// The API: alice published, with PUBLISH_STARTED; bob SUBSCRIBE_STARTED
	// to her; carol's PUBLISH_ERROR; filler11's QUOTA_EXCEEDED.
	var got struct {
		Stage struct{ ActiveSessionID string }
	}
	rt(&got, "get-stage", "--arn", arn)
	session := got.Stage.ActiveSessionID
	type event struct{ Name, ErrorCode, RemoteParticipantID string }
	eventsOf := func(id string) []event {
		var es struct{ Events []event }
		rt(&es, "list-participant-events", "--stage-arn", arn, "--session-id", session, "--participant-id", id)
		return es.Events
	}
	has := slices.Contains[[]event]
	harness.Eventually(t, 30*time.Second, func() error {
		var ps struct {
			Participants []struct {
				ParticipantID string
				Published     bool
			}
		}
		rt(&ps, "list-participants", "--stage-arn", arn, "--session-id", session)
		for _, p := range ps.Participants {
			if p.ParticipantID == alice.ParticipantID && !p.Published {
				return errors.New("alice not published")
			}
		}
		if es := eventsOf(alice.ParticipantID); !has(es, event{Name: "PUBLISH_STARTED"}) {
			return fmt.Errorf("alice's events %v", es)
		}
		if es := eventsOf(bob.ParticipantID); !has(es, event{Name: "SUBSCRIBE_STARTED", RemoteParticipantID: alice.ParticipantID}) ||
			!has(es, event{Name: "SUBSCRIBE_ERROR", ErrorCode: "PUBLISHER_NOT_FOUND", RemoteParticipantID: "nobody"}) {
			return fmt.Errorf("bob's events %v", es)
		}
		if es := eventsOf(carol.ParticipantID); !has(es, event{Name: "PUBLISH_ERROR", ErrorCode: "INSUFFICIENT_CAPABILITIES"}) {
			return fmt.Errorf("carol's events %v", es)
		}
		if es := eventsOf("filler11"); !has(es, event{Name: "PUBLISH_ERROR", ErrorCode: "QUOTA_EXCEEDED"}) ||
			!has(es, event{Name: "PUBLISH_STARTED"}) {
			return fmt.Errorf("filler11's events %v", es)
		}
		return nil
	})

	// The SFU's counters are on /metrics.
	mresp, err := http.Get(s.Endpoint() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), "onair_sfu_packets_forwarded_total") || strings.Contains(string(mb), "onair_sfu_packets_forwarded_total 0\n") {
		t.Errorf("metrics lack forwarded packets:\n%s", grepLines(string(mb), "onair_sfu_"))
	}

	// disconnect-participant alice: her publisher and bob's subscription
	// end (SUBSCRIBE_STOPPED), and bob's peer connection stops.
	rt(nil, "disconnect-participant", "--stage-arn", arn, "--participant-id", alice.ParticipantID)
	a.waitType(ctx, "aws:ivs:DISCONNECT")
	harness.Eventually(t, 60*time.Second, func() error {
		if st := view.PC.ConnectionState(); st == webrtc.PeerConnectionStateConnected {
			return errors.New("bob's subscription still connected")
		}
		if st := pub.PC.ConnectionState(); st == webrtc.PeerConnectionStateConnected {
			return errors.New("alice's publisher still connected")
		}
		if es := eventsOf(bob.ParticipantID); !has(es, event{Name: "SUBSCRIBE_STOPPED", RemoteParticipantID: alice.ParticipantID}) {
			return fmt.Errorf("bob's events %v", es)
		}
		return nil
	})
	n := len(view.Frames())
	postRefused(ctx, t, whip+"/subscribe/"+alice.ParticipantID, bob.Token, offer, http.StatusNotFound, 2004)
	if m := len(view.Frames()); m > n+2 {
		t.Errorf("bob kept receiving frames after the disconnect: %d then %d", n, m)
	}
	_ = c
	if strings.Contains(s.Logs(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", grepLines(s.Logs(), "level=ERROR"))
	}
}

// pionOffer is a publish offer (H.264 + Opus) from a peer connection that
// is never used: the refusals come before the SDP is answered.
func pionOffer(t *testing.T) (*webrtc.PeerConnection, string) {
	t.Helper()
	api, err := harness.NewWebRTCAPI()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := harness.Offer(pc)
	if err != nil {
		t.Fatal(err)
	}
	return pc, offer
}

// getJSON GETs url and decodes its JSON body.
func getJSON(url string, out any) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
