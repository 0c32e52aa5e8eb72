package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/test/e2e/harness"
)

// checkCORS fails the test when a reply lacks what a page on another
// origin needs to read it.
func checkCORS(t *testing.T, what string, h http.Header) {
	t.Helper()
	if h.Get("Access-Control-Allow-Origin") == "" || !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("%s: no CORS headers: %v", what, h)
	}
}

// TestWebBroadcastOffer speaks the IVS Web Broadcast SDK's exchange to onair
// over HTTPS from a pion publisher that sends what the SDK sends (a
// stopStream data channel, H.264 and Opus, an offer without candidates):
// the refusals in the JSON the SDK maps, CORS on every reply, the answer
// with every candidate and the bit rate capped, the session's ingest
// configuration from the body, 409 to a second publisher while the first
// is healthy and a takeover once it went silent, and the stopStream
// message and StopStream each ending the broadcast.
func TestWebBroadcastOffer(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "web-broadcast", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	sk := aws.ToString(key.Value)
	hc := s.HTTPSClient(t)
	endpoint := s.HTTPSEndpoint()
	ctx := harness.Context(t, 2*time.Minute)
	clip := harness.MakeClip(t, "640x360", 30, 4*time.Second)

	// The preflight, on the paths the SDK builds from the endpoints users
	// type: https://host:port, https://host:port/, https://host:port/prefix.
	for _, path := range []string{"/v1/offer", "//v1/offer", "/prefix/x/v1/offer"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, endpoint+path, nil)
		req.Header.Set("Origin", "http://127.0.0.1:1")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("OPTIONS %s: %d %v", path, resp.StatusCode, resp.Header)
		}
		checkCORS(t, "OPTIONS "+path, resp.Header)
	}

	// Refusals: each a JSON message with a fitting status, and CORS.
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = pc.Close()
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   int
	}{
		{"unknown key", harness.OfferBody(offer.SDP, "sk_us-east-1_nope", harness.BasicLandscape), http.StatusUnauthorized, 1007},
		{"malformed body", []byte(`{"offer": "eyJ0eXBlIjoib2ZmZXIi`), http.StatusBadRequest, 0},
		{"bad SDP", harness.OfferBody("this is not SDP", sk, harness.BasicLandscape), http.StatusBadRequest, 0},
		{"oversize body", append(append([]byte(`{"offer":"`), bytes.Repeat([]byte("A"), 200<<10)...), `"}`...), http.StatusRequestEntityTooLarge, 0},
		{"STANDARD_LANDSCAPE on a BASIC channel", harness.OfferBody(offer.SDP, sk, harness.StandardLandscape), http.StatusUnprocessableEntity, 0},
	} {
		r, err := harness.PostOffer(ctx, hc, endpoint+"/v1/offer", tc.body)
		if err != nil || r.Status != tc.status || r.Code != tc.code || r.Message == "" {
			t.Errorf("%s: %+v %v; want %d, code %d and a message", tc.name, r, err, tc.status, tc.code)
		}
		checkCORS(t, tc.name, r.Header)
		t.Logf("%s: %d %s", tc.name, r.Status, strings.TrimSpace(r.Body))
	}

	// The endpoint with a slash: the SDK posts //v1/offer.
	pub, r, err := harness.PublishWebBroadcast(ctx, hc, endpoint+"/", sk, clip, harness.BasicLandscape)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("publish: %+v %v", r, err)
	}
	defer pub.Close()
	checkCORS(t, "the answer", r.Header)
	for _, want := range []string{"a=candidate:", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "b=AS:1500\r\n", "b=TIAS:1500000\r\n"} {
		if !strings.Contains(r.Answer, want) {
			t.Errorf("the answer lacks %q:\n%s", want, r.Answer)
		}
	}
	if r.SessionID == "" {
		t.Errorf("no ingestSessionId: %s", r.Body)
	}
	st := waitLive(t, c, aws.ToString(ch.Arn))
	sess, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: st.StreamId})
	if err != nil {
		t.Fatal(err)
	}
	in := sess.StreamSession.IngestConfigurations
	if len(in.VideoConfigurations) != 1 || len(in.AudioConfigurations) != 1 {
		t.Fatalf("ingest configurations %+v", in)
	}
	v, a := in.VideoConfigurations[0], in.AudioConfigurations[0]
	if v.TargetBitrate != 1_500_000 || v.TargetFramerate != 30 || v.VideoWidth != 640 || v.VideoHeight != 360 ||
		!strings.HasPrefix(aws.ToString(v.Codec), "avc1.") || aws.ToString(a.Codec) != "opus" {
		t.Errorf("video %+v, audio %+v", v, a)
	}

	// A healthy publisher keeps its channel.
	if p2, r2, err := harness.PublishWebBroadcast(ctx, hc, endpoint, sk, clip, harness.BasicLandscape); err != nil || r2.Status != http.StatusConflict || r2.Message == "" {
		t.Fatalf("second publisher: %+v %v", r2, err)
	} else {
		checkCORS(t, "busy", r2.Header)
		p2.Close()
	}
	// The SDK's reconnect, while the old connection still holds the
	// channel: once it sent nothing for a few seconds, the same key takes
	// the channel over.
	pub.Pause()
	paused := time.Now()
	var pub2 *harness.WHIPPublisher
	harness.Eventually(t, 20*time.Second, func() error {
		p, r, err := harness.PublishWebBroadcast(ctx, hc, endpoint, sk, clip, harness.BasicLandscape)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			p.Close()
			return fmt.Errorf("reconnect: %d %s", r.Status, r.Body)
		}
		pub2 = p
		return nil
	})
	defer pub2.Close()
	t.Logf("the reconnect took the channel over %v after the old publisher went silent", time.Since(paused).Round(100*time.Millisecond))
	harness.Eventually(t, 20*time.Second, func() error {
		out, err := c.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		if out.Stream.State != types.StreamStateStreamLive || aws.ToString(out.Stream.StreamId) == aws.ToString(st.StreamId) {
			return fmt.Errorf("stream %s %s, want a new live one", aws.ToString(out.Stream.StreamId), out.Stream.State)
		}
		return nil
	})

	// stopBroadcast: a message on stopStream ends the broadcast at once.
	harness.Eventually(t, 10*time.Second, func() error {
		if s := pub2.StopStream.ReadyState(); s != webrtc.DataChannelStateOpen {
			return fmt.Errorf("stopStream is %s", s)
		}
		return nil
	})
	if err := pub2.StopStream.SendText(" "); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 5*time.Second)

	// StopStream cuts a broadcaster off at once.
	pub3, r3, err := harness.PublishWebBroadcast(ctx, hc, endpoint, sk, clip, harness.BasicLandscape)
	if err != nil || r3.Status != http.StatusOK {
		t.Fatalf("publish again: %+v %v", r3, err)
	}
	defer pub3.Close()
	waitLive(t, c, aws.ToString(ch.Arn))
	if _, err := c.StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 3*time.Second)
	if strings.Contains(s.Logs(), sk) {
		t.Errorf("the stream key appears in the server log")
	}
	_, err = c.GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: ch.Arn})
	if !errors.As(err, new(*types.ChannelNotBroadcasting)) {
		t.Errorf("GetStream after StopStream: %v", err)
	}
}
