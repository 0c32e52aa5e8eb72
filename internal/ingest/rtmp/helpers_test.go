package rtmp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/live/livetest"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

const (
	testKey       = livetest.Key
	testChannelID = livetest.ChannelID
)

type attachment = livetest.Attachment

// fakeRegistry is a func-field Registry.
type fakeRegistry struct {
	claim func(ctx context.Context, key string, conn live.ConnInfo) (*live.Publisher, error)
}

func (f *fakeRegistry) Claim(ctx context.Context, key string, conn live.ConnInfo) (*live.Publisher, error) {
	return f.claim(ctx, key, conn)
}

// env is a server on 127.0.0.1:0 backed by a real live.Registry.
type env struct {
	reg      *live.Registry
	srv      *Server
	addr     string
	attached chan attachment
	claims   chan string // keys the server tried to claim
	served   chan error
}

func newEnv(t *testing.T, tweak func(*Server)) *env {
	t.Helper()
	return newEnvWith(t, livetest.Sessions{}, "rtmp", tweak)
}

// newEnvWith is newEnv with the registry's channel and the server's protocol.
func newEnvWith(t *testing.T, sessions livetest.Sessions, protocol string, tweak func(*Server)) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e := &env{
		reg:      live.New(sessions, log),
		attached: make(chan attachment, 4),
		claims:   make(chan string, 16),
		served:   make(chan error, 1),
	}
	e.reg.AddConsumer(&livetest.Capture{C: e.attached})
	fr := &fakeRegistry{claim: func(ctx context.Context, key string, conn live.ConnInfo) (*live.Publisher, error) {
		e.claims <- key
		return e.reg.Claim(ctx, key, conn)
	}}
	e.srv = New(Config{Registry: fr, Log: log, Protocol: protocol, ReadTimeout: 5 * time.Second})
	if tweak != nil {
		tweak(e.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go func() { e.served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = e.srv.Close()
		if err := <-e.served; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
	})
	return e
}

func (e *env) waitAttached(t *testing.T) attachment {
	t.Helper()
	select {
	case a := <-e.attached:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("stream never went live")
		return attachment{}
	}
}

// dial connects a gortmplib client to path ("/app") with stream name key.
func (e *env) dial(ctx context.Context, path, key string, publish bool) (*gortmplib.Client, error) {
	u, err := url.Parse("rtmp://" + e.addr + path)
	if err != nil {
		return nil, err
	}
	u.Fragment = key
	c := &gortmplib.Client{URL: u, Publish: publish}
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

var testAACConfig = &mpeg4audio.AudioSpecificConfig{
	Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2,
}

// mediaWriter writes the test clip and fake AAC frames in DTS order.
type mediaWriter struct {
	w      *gortmplib.Writer
	video  *gortmplib.Track
	audio  *gortmplib.Track
	v      *streamtest.Video
	frame  int // next video frame
	aframe int // next audio frame
}

// publish connects a publisher to /app/{testKey} and writes 3 s of media:
// track discovery reads 2 s before the stream goes live. The connection
// closes when the test ends.
func (e *env) publish(ctx context.Context, t *testing.T, v *streamtest.Video, audio rtmpcodecs.Codec, withVideo bool) (*gortmplib.Client, *mediaWriter) {
	t.Helper()
	c, err := e.dial(ctx, "/app", testKey, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mw, err := newMediaWriter(c, v, audio, withVideo)
	if err != nil {
		t.Fatal(err)
	}
	if err := mw.writeUntil(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c, mw
}

func newMediaWriter(c *gortmplib.Client, v *streamtest.Video, audio rtmpcodecs.Codec, withVideo bool) (*mediaWriter, error) {
	m := &mediaWriter{v: v}
	var tracks []*gortmplib.Track
	if withVideo {
		m.video = &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: v.SPS, PPS: v.PPS}}
		if v.VPS != nil { // H.265, sent as Enhanced RTMP
			m.video = &gortmplib.Track{Codec: &rtmpcodecs.H265{VPS: v.VPS, SPS: v.SPS, PPS: v.PPS}}
		}
		tracks = append(tracks, m.video)
	}
	if audio != nil {
		m.audio = &gortmplib.Track{Codec: audio}
		tracks = append(tracks, m.audio)
	}
	m.w = &gortmplib.Writer{Conn: c, Tracks: tracks}
	if err := m.w.Initialize(); err != nil {
		return nil, err
	}
	return m, nil
}

const aacFrameDur = time.Second * 1024 / 48000

// writeUntil writes media up to (not including) time end. The clip loops so
// tests can write as long as they like; timestamps keep increasing.
func (m *mediaWriter) writeUntil(end time.Duration) error {
	for {
		vts := time.Duration(m.frame) * time.Second / streamtest.FPS
		ats := time.Duration(m.aframe) * aacFrameDur
		if (m.video == nil || vts >= end) && (m.audio == nil || ats >= end) {
			return nil
		}
		if m.video != nil && (m.audio == nil || vts <= ats) {
			au := m.v.AUs[m.frame%len(m.v.AUs)]
			write := m.w.WriteH264
			if m.v.VPS != nil {
				write = m.w.WriteH265
			}
			if err := write(m.video, vts, vts, au); err != nil {
				return err
			}
			m.frame++
			continue
		}
		var err error
		switch m.audio.Codec.(type) {
		case *rtmpcodecs.MPEG4Audio:
			err = m.w.WriteMPEG4Audio(m.audio, ats, []byte{0x21, 0x10, 0x05, 0x00, 0xa0, 0x19, 0x33})
		case *rtmpcodecs.G711:
			err = m.w.WriteG711(m.audio, ats, make([]byte, 160))
		}
		if err != nil {
			return err
		}
		m.aframe++
	}
}

func liveConnInfo(remote string) live.ConnInfo {
	return live.ConnInfo{Protocol: "rtmp", Remote: remote}
}
