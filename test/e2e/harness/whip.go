package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// Clip is a WebRTC-ready test clip: H.264 Constrained Baseline access units
// (no B-frames, a keyframe every second) and 20 ms Opus packets.
type Clip struct {
	FPS  int
	AUs  [][]byte // Annex-B, one access unit each
	Opus [][]byte
	// VP8 holds VP8 frames instead of AUs when the clip was made with
	// MakeVP8Clip: the publisher then offers VP8 only.
	VP8 [][]byte
}

// MakeClip encodes a clip of d seconds at size with ffmpeg.
func MakeClip(t testing.TB, size string, fps int, d time.Duration) *Clip {
	t.Helper()
	return makeClip(t, fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps), fps, d)
}

// MakeColorClip is MakeClip of a picture of one colour (an ffmpeg colour
// name or 0xRRGGBB): what a test can recognise in a composite.
func MakeColorClip(t testing.TB, color, size string, fps int, d time.Duration) *Clip {
	t.Helper()
	return makeClip(t, fmt.Sprintf("color=c=%s:size=%s:rate=%d", color, size, fps), fps, d)
}

// makeClip encodes d seconds of the lavfi video source src at fps.
func makeClip(t testing.TB, src string, fps int, d time.Duration) *Clip {
	t.Helper()
	bin := RequireProgram(t, "ffmpeg")
	dir := t.TempDir()
	v, a := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ogg")
	secs := strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	run := func(args ...string) {
		if out, err := exec.Command(bin, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	run("-f", "lavfi", "-i", src, "-t", secs,
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(fps), "-keyint_min", strconv.Itoa(fps), "-sc_threshold", "0", "-b:v", "1M",
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", v)
	run("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", secs, "-ac", "2",
		"-c:a", "libopus", "-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", a)
	c := &Clip{FPS: fps}
	raw, err := os.ReadFile(v)
	if err != nil {
		t.Fatal(err)
	}
	// An access unit delimiter (type 9) opens every access unit.
	var cur []byte
	for _, n := range streamtest.SplitAnnexB(raw) {
		if len(n) > 0 && n[0]&0x1f == 9 {
			if cur != nil {
				c.AUs = append(c.AUs, cur)
			}
			cur = []byte{}
			continue
		}
		cur = append(append(cur, 0, 0, 0, 1), n...)
	}
	if len(cur) > 0 {
		c.AUs = append(c.AUs, cur)
	}
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	or, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		page, _, err := or.ParseNextPage()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		c.Opus = append(c.Opus, page)
	}
	if len(c.AUs) < fps || len(c.Opus) < 50 {
		t.Fatalf("clip: %d access units, %d Opus packets", len(c.AUs), len(c.Opus))
	}
	return c
}

// MakeVP8Clip is MakeClip with the video in VP8 (libvpx, realtime).
func MakeVP8Clip(t testing.TB, size string, fps int, d time.Duration) *Clip {
	t.Helper()
	c := MakeClip(t, size, fps, d)
	bin := RequireProgram(t, "ffmpeg")
	out, err := exec.Command(bin, "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps), "-t", strconv.FormatFloat(d.Seconds(), 'f', 3, 64),
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", strconv.Itoa(fps), "-keyint_min", strconv.Itoa(fps),
		"-b:v", "1M", "-f", "ivf", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg vp8: %v", err)
	}
	r, _, err := ivfreader.NewWith(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, _, err := r.ParseNextFrame()
		if err != nil {
			break
		}
		c.VP8 = append(c.VP8, f)
	}
	c.AUs = nil
	return c
}

// WHIPPublisher sends a clip over WHIP (or the IVS Web Broadcast SDK's
// exchange) from a pion peer connection, looping it at real time, each
// frame stamped with its send time in an SEI.
type WHIPPublisher struct {
	PC       *webrtc.PeerConnection
	Location string
	Status   int
	Body     string
	// StopStream is the Web Broadcast SDK's data channel (PublishWebBroadcast).
	StopStream *webrtc.DataChannel
	cancel     context.CancelFunc
	done       chan struct{}
	video      *webrtc.TrackLocalStaticSample
	audio      *webrtc.TrackLocalStaticSample
}

// newPublisher is a publisher's peer connection with its tracks (and the
// SDK's "stopStream" data channel first when dc is set), and its offer.
func newPublisher(clip *Clip, dc bool) (*WHIPPublisher, string, error) {
	newAPI := NewWebRTCAPI
	if clip.VP8 != nil {
		newAPI = newVP8API
	}
	api, err := newAPI()
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	p := &WHIPPublisher{PC: pc, done: make(chan struct{})}
	if dc {
		if p.StopStream, err = pc.CreateDataChannel("stopStream", nil); err != nil {
			_ = pc.Close()
			return nil, "", err
		}
	}
	vcodec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	if clip.VP8 != nil {
		vcodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	}
	if p.video, err = webrtc.NewTrackLocalStaticSample(vcodec, "video", "harness"); err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	p.audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		"audio", "harness")
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	for _, tr := range []webrtc.TrackLocal{p.video, p.audio} {
		t, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			_ = pc.Close()
			return nil, "", err
		}
		// The offer lists only the codec the clip is in, as a browser
		// told its preference does: a server that takes the first codec
		// offered (the stage SFU) must not pick one the track cannot send.
		if tr == webrtc.TrackLocal(p.video) {
			var prefs []webrtc.RTPCodecParameters
			for _, c := range t.Sender().GetParameters().Codecs {
				if strings.EqualFold(c.MimeType, vcodec.MimeType) {
					prefs = append(prefs, c)
				}
			}
			if err := t.SetCodecPreferences(prefs); err != nil {
				_ = pc.Close()
				return nil, "", err
			}
		}
	}
	offer, err := Offer(pc)
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	return p, offer, nil
}

// PublishWHIP offers H.264 + Opus to url with key. The returned publisher
// has Status and Body of the answer; it sends only when Status is 201.
func PublishWHIP(ctx context.Context, url, key string, clip *Clip) (*WHIPPublisher, error) {
	p, offer, err := newPublisher(clip, false)
	if err != nil {
		return nil, err
	}
	status, h, body, err := PostSDP(ctx, url, key, offer)
	if err != nil {
		_ = p.PC.Close()
		return nil, err
	}
	p.Location, p.Status, p.Body = h.Get("Location"), status, body
	if status != http.StatusCreated {
		_ = p.PC.Close()
		close(p.done)
		return p, nil
	}
	if err := p.start(ctx, clip, body); err != nil {
		return nil, err
	}
	return p, nil
}

// start applies the answer and sends the clip until Pause or Close.
func (p *WHIPPublisher) start(ctx context.Context, clip *Clip, answer string) error {
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		_ = p.PC.Close()
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	video, audio := p.video, p.audio
	go func() {
		defer close(p.done)
		frame := time.Second / time.Duration(clip.FPS)
		start := time.Now()
		vi, ai := 0, 0
		for sctx.Err() == nil {
			nextV := start.Add(time.Duration(vi) * frame)
			nextA := start.Add(time.Duration(ai) * 20 * time.Millisecond)
			next := nextV
			if nextA.Before(next) {
				next = nextA
			}
			select {
			case <-sctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			if !nextV.After(next) {
				if clip.VP8 != nil {
					_ = video.WriteSample(media.Sample{Data: clip.VP8[vi%len(clip.VP8)], Duration: frame})
				} else {
					au := clip.AUs[vi%len(clip.AUs)]
					data := append(append([]byte{0, 0, 0, 1}, streamtest.StampSEI(time.Now())...), au...)
					_ = video.WriteSample(media.Sample{Data: data, Duration: frame})
				}
				vi++
			} else {
				_ = audio.WriteSample(media.Sample{Data: clip.Opus[ai%len(clip.Opus)], Duration: 20 * time.Millisecond})
				ai++
			}
		}
	}()
	return nil
}

// Pause stops sending media and keeps the peer connection: to the server,
// an encoder that went silent.
func (p *WHIPPublisher) Pause() {
	if p.cancel != nil {
		p.cancel()
	}
	<-p.done
}

// Close stops sending and ends the peer connection.
func (p *WHIPPublisher) Close() {
	p.Pause()
	_ = p.PC.Close()
}
