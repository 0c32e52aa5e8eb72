package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// TestWebBroadcastSDKInBrowser goes live with IVS's own browser broadcaster
// (npm amazon-ivs-web-broadcast 1.41.0, unmodified) in Chromium with the
// fake camera and microphone (web/e2e/webbroadcast.mjs), given onair's
// HTTPS endpoint: a wrong key is its InvalidStreamKey error (10003); on a
// BASIC channel with BASIC_LANDSCAPE and a STANDARD one with
// STANDARD_LANDSCAPE the channel is LIVE within seconds, the session holds
// the SDK's ingest configuration, hls.js plays the playback URL, the
// browser's encoder ramps up to the answer's cap and stays there (BASIC:
// 1.5 Mbps; without b=AS it passes 1.7 Mbps within seconds), and
// StopStream ends the broadcast at once (on BASIC the SDK's peer
// connection is seen to fail too). The STANDARD run is kept short: the
// browser encodes 1080p and ffmpeg makes the ladder on a 2-core machine.
func TestWebBroadcastSDKInBrowser(t *testing.T) {
	t.Parallel()
	root, node := browserTest(t)
	if _, err := os.Stat(filepath.Join(root, "web/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js")); err != nil {
		t.Skipf("amazon-ivs-web-broadcast not installed (npm ci in web/): %v", err)
	}
	s := harness.Start(t)
	c := s.IVS()
	basic, basicKey := createChannel(t, c, "sdk-basic", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	standard, standardKey := createChannel(t, c, "sdk-standard", types.ChannelTypeStandardChannelType, types.ChannelLatencyModeLowLatency)
	signals := t.TempDir()
	shots := screenshots(root)
	removeShots(t, shots, "7")
	p := harness.StartProcessIn(t, filepath.Join(root, "web"), []string{"SHOTS=" + shots, "SIGNALS=" + signals,
		"ONAIR_URL=" + s.Endpoint(), "ONAIR_HTTPS=" + s.HTTPSEndpoint(), "TLS_SPKI=" + s.TLSPublicKeyHash(t),
		"BASIC_ID=" + idOf(basic), "BASIC_KEY=" + aws.ToString(basicKey.Value),
		"STANDARD_ID=" + idOf(standard), "STANDARD_KEY=" + aws.ToString(standardKey.Value)}, node, "e2e/webbroadcast.mjs")
	// output waits for a line of the script's, failing with its output
	// if it ends first.
	output := func(line string, d time.Duration) {
		t.Helper()
		harness.Eventually(t, d, func() error {
			if strings.Contains(p.Output(), line) {
				return nil
			}
			select {
			case <-p.Done():
				t.Fatalf("the browser script ended before %q: %v\n%s\nserver log:\n%s", line, p.Err(), p.Output(), s.Logs())
			default:
			}
			return fmt.Errorf("no %q from the browser script yet", line)
		})
	}
	for _, run := range []struct {
		name string
		ch   *types.Channel
		kbps int64
	}{{"basic", basic, 1500}, {"standard", standard, 8500}} {
		output("BROADCASTING "+run.name, 90*time.Second)
		// LIVE within seconds of startBroadcast resolving (a deadline
		// generous for a loaded machine; it is usually live already).
		start := time.Now()
		var st *types.Stream
		harness.Eventually(t, 10*time.Second, func() error {
			out, err := c.GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: run.ch.Arn})
			if err != nil {
				return err
			}
			if out.Stream.State != types.StreamStateStreamLive {
				return fmt.Errorf("state %s", out.Stream.State)
			}
			st = out.Stream
			return nil
		})
		t.Logf("%s: LIVE within %v of the script's BROADCASTING line", run.name, time.Since(start).Round(10*time.Millisecond))
		// The session records what the SDK declared (its preset's bit rate
		// and frame rate) and what its stream is (H.264 from the SPS, Opus).
		sess, err := c.GetStreamSession(context.Background(), &ivs.GetStreamSessionInput{ChannelArn: run.ch.Arn, StreamId: st.StreamId})
		if err != nil {
			t.Fatal(err)
		}
		in := sess.StreamSession.IngestConfigurations
		if len(in.VideoConfigurations) != 1 || len(in.AudioConfigurations) != 1 {
			t.Fatalf("%s: ingest configurations %+v", run.name, in)
		}
		v, a := in.VideoConfigurations[0], in.AudioConfigurations[0]
		t.Logf("%s: video %s %s %dx%d target %d bps %d fps; audio %s %d Hz %d channels", run.name, aws.ToString(v.Codec),
			aws.ToString(v.Profile), v.VideoWidth, v.VideoHeight, v.TargetBitrate, v.TargetFramerate, aws.ToString(a.Codec), a.SampleRate, a.Channels)
		if v.TargetBitrate != run.kbps*1000 || v.TargetFramerate != 30 || !strings.HasPrefix(aws.ToString(v.Codec), "avc1.") ||
			v.VideoWidth == 0 || v.VideoHeight == 0 || aws.ToString(a.Codec) != "opus" || a.SampleRate != 48000 {
			t.Errorf("%s: video %+v, audio %+v", run.name, v, a)
		}
		output("PLAYED "+run.name, 90*time.Second)
		stopped := time.Now()
		if _, err := c.StopStream(context.Background(), &ivs.StopStreamInput{ChannelArn: run.ch.Arn}); err != nil {
			t.Fatal(err)
		}
		waitOffline(t, c, aws.ToString(run.ch.Arn), 3*time.Second)
		t.Logf("%s: offline %v after StopStream", run.name, time.Since(stopped).Round(10*time.Millisecond))
		if err := os.WriteFile(filepath.Join(signals, run.name+".stopped"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Wait(2 * time.Minute); err != nil {
		t.Fatalf("browser test: %v\n%s\nserver log:\n%s", err, p.Output(), s.Logs())
	}
	t.Logf("browser test:\n%s", p.Output())
	for _, k := range []*types.StreamKey{basicKey, standardKey} {
		if strings.Contains(s.Logs(), aws.ToString(k.Value)) {
			t.Errorf("a stream key appears in the server log")
		}
	}
}
