package rtmp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/live/livetest"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// readUnits reads from r until want returns true or the deadline passes.
func readUnits(t *testing.T, r *stream.Reader, d time.Duration, want func(u *stream.Unit) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		u, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("reading units: %v", err)
		}
		if want(u) {
			return
		}
	}
}

// expectClosed reads from nc until the peer closes it; a timeout fails.
func expectClosed(t *testing.T, nc net.Conn, within time.Duration) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", within)
	}
}

func TestPublishH264AAC(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := e.dial(ctx, "/app", testKey, true)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer c.Close()
	if got := <-e.claims; got != testKey {
		t.Fatalf("claimed key %q, want the publish stream name", got)
	}
	mw, err := newMediaWriter(c, v, &rtmpcodecs.MPEG4Audio{Config: testAACConfig}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Track discovery needs 2 s of media before the stream goes live.
	if err := mw.writeUntil(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	a := e.waitAttached(t)
	if a.Stream.Channel.ID != testChannelID || a.Stream.Conn.Protocol != "rtmp" {
		t.Fatalf("stream %+v", a.Stream)
	}

	tracks := a.Stream.Hub.Tracks()
	if len(tracks) != 2 {
		t.Fatalf("got %d tracks, want H264 + AAC", len(tracks))
	}
	vc, ok := tracks[0].Codec.(*stream.H264)
	if !ok || !bytes.Equal(vc.SPS, v.SPS) || !bytes.Equal(vc.PPS, v.PPS) || tracks[0].ClockRate != 90000 {
		t.Fatalf("video track %+v %+v", tracks[0], tracks[0].Codec)
	}
	ac, ok := tracks[1].Codec.(*stream.AAC)
	if !ok || ac.Config.SampleRate != 48000 || tracks[1].ClockRate != 48000 {
		t.Fatalf("audio track %+v %+v", tracks[1], tracks[1].Codec)
	}
	// The session records what the encoder sent (gortmplib's writer sends
	// onMetaData without an encoder name).
	in := a.Stream.Ingest
	if len(in.Video) != 1 || len(in.Audio) != 1 || !strings.HasPrefix(in.Video[0].Codec, "avc1.") ||
		in.Video[0].VideoWidth != 320 || in.Video[0].VideoHeight != 240 ||
		in.Audio[0].Codec != "mp4a.40.2" || in.Audio[0].SampleRate != 48000 || in.Audio[0].Channels != 2 {
		t.Fatalf("ingest configuration %+v", in)
	}

	var videos, audios int
	var lastPTS time.Duration = -1
	readUnits(t, a.Reader, 5*time.Second, func(u *stream.Unit) bool {
		if u.NTP.IsZero() {
			t.Fatal("unit without NTP")
		}
		switch u.Track {
		case tracks[0]:
			if videos == 0 {
				if !u.RandomAccess {
					t.Fatal("first video unit is not an IDR")
				}
				if h264.NALUType(u.Payload[0][0]&0x1F) != h264.NALUTypeSPS {
					t.Fatalf("IDR does not start with its SPS: %v", h264.NALUType(u.Payload[0][0]&0x1F))
				}
			}
			if want := videos%30 == 0; u.RandomAccess != want {
				t.Fatalf("video unit %d: RandomAccess=%v", videos, u.RandomAccess)
			}
			if u.PTS <= lastPTS || u.DTS != u.PTS {
				t.Fatalf("video unit %d: pts %v after %v, dts %v", videos, u.PTS, lastPTS, u.DTS)
			}
			lastPTS = u.PTS
			videos++
		case tracks[1]:
			if len(u.Payload) != 1 || len(u.Payload[0]) == 0 {
				t.Fatalf("audio payload %v", u.Payload)
			}
			audios++
		default:
			t.Fatalf("unit of unknown track %p", u.Track)
		}
		return videos >= 89 && audios >= 100
	})

	// Not disturbed by the stream continuing: more media keeps arriving.
	if err := mw.writeUntil(4 * time.Second); err != nil {
		t.Fatal(err)
	}
	readUnits(t, a.Reader, 5*time.Second, func(u *stream.Unit) bool { return u.PTS >= 3900*time.Millisecond })

	// StopStream: the encoder's connection must close at once.
	if err := e.reg.Stop(testChannelID); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c.NetConn(), 2*time.Second)
	streamtest.Eventually(t, 2*time.Second, "channel released", func() bool {
		_, live := e.reg.Get(testChannelID)
		return !live
	})
	// The hub ended: the reader drains and then sees ErrClosed.
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	for {
		if _, err := a.Reader.Read(rctx); err != nil {
			if !errors.Is(err, stream.ErrClosed) {
				t.Fatalf("reader ended with %v, want ErrClosed", err)
			}
			break
		}
	}
}

func TestPublishRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		path, key string
		publish   bool
		busy      bool   // another publisher holds the channel
		claimed   bool   // the key reached the registry
		wantErr   string // what the client must have been told
	}{
		{name: "unknown key", path: "/app", key: "sk_nope", publish: true, claimed: true,
			wantErr: "NetStream.Publish.Unauthorized"},
		{name: "channel busy", path: "/app", key: testKey, publish: true, busy: true, claimed: true,
			wantErr: "NetStream.Publish.Unauthorized"},
		{name: "wrong app", path: "/live", key: testKey, publish: true,
			wantErr: "NetStream.Publish.Unauthorized"},
		{name: "nested path", path: "/app/x", key: testKey, publish: true,
			wantErr: "NetStream.Publish.Unauthorized"},
		{name: "no key", path: "/app", key: "", publish: true,
			wantErr: "NetStream.Publish.Unauthorized"},
		{name: "play", path: "/app", key: testKey, publish: false,
			wantErr: "NetStream.Play.Failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.busy {
				p, err := e.reg.Claim(ctx, testKey, liveConnInfo("other"))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
			}
			c, err := e.dial(ctx, tc.path, tc.key, tc.publish)
			if err == nil {
				c.Close()
				t.Fatal("connection accepted")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("client error %q, want the refusal %s", err, tc.wantErr)
			}
			select {
			case <-e.claims:
				if !tc.claimed {
					t.Fatal("key was looked up")
				}
			default:
				if tc.claimed {
					t.Fatal("key was not looked up")
				}
			}
		})
	}
}

// H.265 arrives over Enhanced RTMP (what OBS 30+ sends) and reaches the hub
// with its parameter sets and key frames.
func TestPublishH265(t *testing.T) {
	t.Parallel()
	v := streamtest.H265(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, mw := e.publish(ctx, t, v, &rtmpcodecs.MPEG4Audio{Config: testAACConfig}, true)
	a := e.waitAttached(t)
	tracks := a.Stream.Hub.Tracks()
	vc, ok := tracks[0].Codec.(*stream.H265)
	if !ok || !bytes.Equal(vc.VPS, v.VPS) || !bytes.Equal(vc.SPS, v.SPS) || !bytes.Equal(vc.PPS, v.PPS) {
		t.Fatalf("video track %+v %+v", tracks[0], tracks[0].Codec)
	}
	if err := mw.writeUntil(4 * time.Second); err != nil {
		t.Fatal(err)
	}
	var keys, frames int
	readUnits(t, a.Reader, 5*time.Second, func(u *stream.Unit) bool {
		if u.Track == tracks[0] {
			frames++
			if u.RandomAccess {
				keys++
			}
		}
		return frames == 4*streamtest.FPS
	})
	// Every frame of 4 s arrived, with key frames at 0, 1, 2 and 3 s.
	if keys != 4 {
		t.Fatalf("%d key frames in 4 s, want 4", keys)
	}
}

func TestPublishWithoutVideoRefused(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.dial(ctx, "/app", testKey, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mw, err := newMediaWriter(c, v, &rtmpcodecs.MPEG4Audio{Config: testAACConfig}, false)
	if err != nil {
		t.Fatal(err)
	}
	// The refusal comes once track discovery has read 2 s, so the
	// writes after that may meet a closed connection: not a failure.
	_ = mw.writeUntil(3 * time.Second)
	expectClosed(t, c.NetConn(), 5*time.Second)
	streamtest.Eventually(t, 2*time.Second, "channel released", func() bool {
		p, err := e.reg.Claim(ctx, testKey, liveConnInfo("next"))
		if err != nil {
			return false
		}
		p.Close()
		return true
	})
	select {
	case <-e.attached:
		t.Fatal("an audio-only stream went live")
	default:
	}
}

func TestPublishIgnoresUnsupportedTrack(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.publish(ctx, t, v, &rtmpcodecs.G711{MULaw: true, ChannelCount: 1}, true)
	a := e.waitAttached(t)
	if tr := a.Stream.Hub.Tracks(); len(tr) != 1 || !tr[0].Codec.IsVideo() {
		t.Fatalf("tracks %v, want the H264 track only", tr)
	}
	// The G.711 frames in between must not break the read loop.
	readUnits(t, a.Reader, 5*time.Second, func(u *stream.Unit) bool { return u.PTS >= 2900*time.Millisecond })
}

func TestReadTimeoutEndsStream(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	e := newEnv(t, func(s *Server) { s.readTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := e.publish(ctx, t, v, nil, true)
	e.waitAttached(t)
	// The encoder goes silent: the stream must end by itself.
	expectClosed(t, c.NetConn(), 3*time.Second)
	streamtest.Eventually(t, 2*time.Second, "channel released", func() bool {
		_, live := e.reg.Get(testChannelID)
		return !live
	})
}

func TestBadClientsAreDroppedAlone(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	e := newEnv(t, func(s *Server) { s.handshakeTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel) // after the check below

	// A good publisher is live through all of this.
	_, mw := e.publish(ctx, t, v, nil, true)
	a := e.waitAttached(t)
	// After every bad client (they come at once, once this function returns).
	t.Cleanup(func() {
		if err := mw.writeUntil(4 * time.Second); err != nil {
			t.Fatalf("good publisher disturbed: %v", err)
		}
		readUnits(t, a.Reader, 5*time.Second, func(u *stream.Unit) bool { return u.PTS >= 3900*time.Millisecond })
	})

	random := make([]byte, 5000)
	_, _ = rand.Read(random)
	cases := []struct {
		name string
		send []byte
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"version then garbage", append([]byte{3}, random...)},
		{"truncated handshake", append([]byte{3}, random[:700]...)},
		{"silent", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nc, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if len(tc.send) > 0 {
				if _, err := nc.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			expectClosed(t, nc, 3*time.Second)
		})
	}
}

// TestCloseLeavesNothing is not parallel: it counts goroutines.
func TestCloseLeavesNothing(t *testing.T) {
	v := streamtest.H264(t)
	base := runtime.NumGoroutine()
	func() {
		e := newEnv(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _ := e.publish(ctx, t, v, &rtmpcodecs.MPEG4Audio{Config: testAACConfig}, true)
		defer c.Close() // before the goroutine count below
		e.waitAttached(t)
		// A connection stuck in the handshake as well.
		idle, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()

		done := make(chan struct{})
		go func() { _ = e.srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if err := <-e.served; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		e.served <- nil // for the cleanup
		expectClosed(t, c.NetConn(), time.Second)
		expectClosed(t, idle, time.Second)
		_ = e.srv.Close() // idempotent
		if _, live := e.reg.Get(testChannelID); live {
			t.Fatal("stream still live after Close")
		}
	}()
	streamtest.Eventually(t, 5*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}

// A channel without insecureIngest refuses plain RTMP after the key lookup
// and takes RTMPS (the protocol label is what the listener's TLS sets).
func TestSecureOnlyChannel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plain := newEnvWith(t, livetest.Sessions{SecureOnly: true}, "rtmp", nil)
	if c, err := plain.dial(ctx, "/app", testKey, true); err == nil {
		c.Close()
		t.Fatal("plain RTMP accepted")
	} else if !strings.Contains(err.Error(), "NetStream.Publish.Unauthorized") {
		t.Fatalf("client error %q", err)
	}
	secure := newEnvWith(t, livetest.Sessions{SecureOnly: true}, "rtmps", nil)
	c, err := secure.dial(ctx, "/app", testKey, true)
	if err != nil {
		t.Fatalf("rtmps refused: %v", err)
	}
	c.Close()
}
