package srt

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/live/livetest"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

const (
	testKey        = livetest.Key
	testPassphrase = "0123456789abcdefghij"
)

type env struct {
	reg      *live.Registry
	srv      *Server
	addr     string
	attached chan livetest.Attachment
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, livetest.Sessions{SRTPassphrase: testPassphrase})
}

func newEnvWith(t *testing.T, sessions livetest.Sessions) *env {
	t.Helper()
	log := streamtest.Log()
	capture := livetest.NewCapture(4)
	e := &env{reg: live.New(sessions, log), attached: capture.C}
	e.reg.AddConsumer(capture)
	e.srv = New(Config{Registry: e.reg, Log: log})
	ln, err := gosrt.Listen("srt", "127.0.0.1:0", ListenConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = e.srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
	})
	return e
}

func (e *env) dial(streamID, passphrase string) (gosrt.Conn, error) {
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamID
	cfg.Passphrase = passphrase
	cfg.Logger = nil
	return gosrt.Dial("srt", e.addr, cfg)
}

// sendClip writes the H.264 clip with AAC silence as MPEG-TS at about real
// time (the receiver's latency buffer expects a live pace), until ctx ends
// or the clip is sent.
func sendClip(ctx context.Context, t *testing.T, w io.Writer, v *streamtest.Video) error {
	bw := bufio.NewWriterSize(w, 1316) // 7 TS packets per SRT payload
	vt := &mpegts.Track{Codec: &tscodecs.H264{}}
	cfg := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}
	at := &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: cfg}}
	mw := &mpegts.Writer{W: bw, Tracks: []*mpegts.Track{vt, at}}
	if err := mw.Initialize(); err != nil {
		return err
	}
	silence := []byte{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c} // an AAC-LC stereo frame of silence
	const base = 900000                                   // 10 s: PTS never starts at 0 in the wild
	audioPTS := int64(base)
	start := time.Now()
	for i, au := range v.AUs {
		pts := int64(base + i*90000/streamtest.FPS)
		if err := mw.WriteH264(vt, pts, pts, au); err != nil {
			return err
		}
		for audioPTS < pts+90000/streamtest.FPS {
			if err := mw.WriteMPEG4Audio(at, audioPTS, [][]byte{silence}); err != nil {
				return err
			}
			audioPTS += 90000 * 1024 / 48000
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(start.Add(time.Duration(i+1) * time.Second / streamtest.FPS))):
		}
	}
	return nil
}

func TestPublish(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	for _, tc := range []struct{ name, streamID, passphrase string }{
		{"bare key", testKey, ""},
		{"access control syntax", "#!::u=obs,r=" + testKey + ",m=publish", ""},
		{"encrypted", testKey, testPassphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			conn, err := e.dial(tc.streamID, tc.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sent := make(chan error, 1)
			go func() { sent <- sendClip(ctx, t, conn, v) }()

			var a livetest.Attachment
			select {
			case a = <-e.attached:
			case <-time.After(10 * time.Second):
				t.Fatal("the stream did not go live")
			}
			tracks := a.Stream.Hub.Tracks()
			h, ok := tracks[0].Codec.(*stream.H264)
			if len(tracks) != 2 || !ok || string(h.SPS) != string(v.SPS) || a.Stream.Conn.Protocol != "srt" {
				t.Fatalf("tracks %+v, conn %+v", tracks, a.Stream.Conn)
			}
			aac, ok := tracks[1].Codec.(*stream.AAC)
			if !ok || aac.Config.SampleRate != 48000 || tracks[1].ClockRate != 48000 {
				t.Fatalf("audio track %+v", tracks[1].Codec)
			}
			// Video starts at a keyframe at 0; time advances by a frame each.
			var videos, audios int
			var last time.Duration
			for videos < 30 {
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				u, err := a.Reader.Read(rctx)
				rcancel()
				if err != nil {
					t.Fatalf("after %d frames: %v", videos, err)
				}
				if u.Track.Codec.IsVideo() {
					if videos == 0 && (!u.RandomAccess || u.DTS != 0) {
						t.Fatalf("first unit: random access %v, DTS %v", u.RandomAccess, u.DTS)
					}
					if videos > 0 && (u.DTS-last < 30*time.Millisecond || u.DTS-last > 37*time.Millisecond) {
						t.Fatalf("frame %d: DTS step %v", videos, u.DTS-last)
					}
					last = u.DTS
					videos++
				} else {
					audios++
				}
			}
			if audios < 20 {
				t.Fatalf("%d audio frames with a second of video", audios)
			}
			// One publisher per channel.
			if c2, err := e.dial(testKey, ""); err == nil {
				c2.Close()
				t.Fatal("a second publisher got in")
			} else if want := "REJECT (" + strconv.FormatUint(uint64(gosrt.REJX_CONFLICT), 32) + ")"; !strings.Contains(err.Error(), want) {
				t.Fatalf("second publisher: %v, want %s", err, want)
			}
			cancel()
			if err := <-sent; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("sending: %v", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, streamID, passphrase string
		reason                     gosrt.RejectionReason
	}{
		{"unknown key", "sk_us-east-1_nope", "", gosrt.REJX_UNAUTHORIZED},
		{"no streamid", "", "", gosrt.REJX_BAD_REQUEST},
		{"play mode", "#!::r=" + testKey + ",m=request", "", gosrt.REJX_BAD_MODE},
		{"control characters", "sk\x01key", "", gosrt.REJX_BAD_REQUEST},
		{"wrong passphrase", testKey, "not-the-passphrase", gosrt.REJ_BADSECRET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := e.dial(tc.streamID, tc.passphrase)
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
			// gosrt prints the code in base 32: "connection rejected: REJECT (1bp)".
			if want := "REJECT (" + strconv.FormatUint(uint64(tc.reason), 32) + ")"; !strings.Contains(err.Error(), want) {
				t.Fatalf("%v, want %s", err, want)
			}
		})
	}
}

// A channel without insecureIngest takes encrypted SRT only.
func TestSecureOnlyChannel(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, livetest.Sessions{SRTPassphrase: testPassphrase, SecureOnly: true})
	conn, err := e.dial(testKey, "")
	if err == nil {
		conn.Close()
		t.Fatal("unencrypted caller accepted")
	}
	if want := "REJECT (" + strconv.FormatUint(uint64(gosrt.REJX_FORBIDDEN), 32) + ")"; !strings.Contains(err.Error(), want) {
		t.Fatalf("%v, want %s", err, want)
	}
	conn, err = e.dial(testKey, testPassphrase)
	if err != nil {
		t.Fatalf("encrypted caller refused: %v", err)
	}
	conn.Close()
}
