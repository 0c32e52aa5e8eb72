package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// clip is what every publisher sends, on a loop: 720p30 H.264 at 2.5 Mbps
// with a keyframe a second, and 48 kHz stereo AAC at 128 kbps, the stream
// the MediaMTX figures were measured with.
type clip struct {
	fps      int
	sps, pps []byte
	video    [][][]byte // access units without AUD; keyframes with SPS and PPS
	asc      *mpeg4audio.AudioSpecificConfig
	audio    [][]byte // raw AAC frames of 1024 samples
}

func loadClip(size string, fps, kbps int) (*clip, error) {
	rate := fmt.Sprintf("%dk", kbps)
	vout, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps), "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fmt.Sprint(fps), "-bf", "0",
		"-pix_fmt", "yuv420p", "-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg video: %w", err)
	}
	c := &clip{fps: fps}
	var cur [][]byte
	for _, n := range streamtest.SplitAnnexB(vout) {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			if len(cur) > 0 {
				c.video = append(c.video, cur)
			}
			cur = nil
			continue
		case h264.NALUTypeSPS:
			c.sps = n
		case h264.NALUTypePPS:
			c.pps = n
		}
		cur = append(cur, n)
	}
	if len(cur) > 0 {
		c.video = append(c.video, cur)
	}
	aout, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "adts", "pipe:1").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg audio: %w", err)
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(aout); err != nil {
		return nil, fmt.Errorf("adts: %w", err)
	}
	for _, p := range pkts {
		c.audio = append(c.audio, p.AU)
	}
	c.asc = &mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate,
		ChannelConfig: pkts[0].ChannelConfig}
	if len(c.video) == 0 || len(c.audio) == 0 || c.sps == nil {
		return nil, fmt.Errorf("clip: %d video and %d audio frames", len(c.video), len(c.audio))
	}
	return c, nil
}

// publisher sends the clip to one RTMP URL in real time, every video
// frame led by an SEI that stamps its send time.
type publisher struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// publish connects and starts sending; it returns once the server has
// accepted the publication.
func publish(ctx context.Context, u *url.URL, c *clip) (*publisher, error) {
	ctx, cancel := context.WithCancel(ctx)
	rc := &gortmplib.Client{URL: u, Publish: true}
	if err := rc.Initialize(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("rtmp connect: %w", err)
	}
	vt := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: c.sps, PPS: c.pps}}
	at := &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: c.asc}}
	w := &gortmplib.Writer{Conn: rc, Tracks: []*gortmplib.Track{vt, at}}
	if err := w.Initialize(); err != nil {
		rc.Close()
		cancel()
		return nil, fmt.Errorf("rtmp publish: %w", err)
	}
	p := &publisher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer rc.Close()
		go func() { <-ctx.Done(); rc.Close() }()
		frame := time.Second / time.Duration(c.fps)
		aframe := time.Second * 1024 / time.Duration(c.asc.SampleRate)
		tick := time.NewTicker(frame)
		defer tick.Stop()
		var a int
		for i := 0; ; i++ {
			pts := time.Duration(i) * frame
			au := make([][]byte, 0, len(c.video[i%len(c.video)])+1)
			au = append(append(au, streamtest.StampSEI(time.Now())), c.video[i%len(c.video)]...)
			err := w.WriteH264(vt, pts, pts, au)
			for ; err == nil && time.Duration(a)*aframe <= pts+frame; a++ {
				err = w.WriteMPEG4Audio(at, time.Duration(a)*aframe, c.audio[a%len(c.audio)])
			}
			if err != nil {
				if ctx.Err() == nil {
					p.mu.Lock()
					p.err = err
					p.mu.Unlock()
				}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p, nil
}

// failed reports why the publisher stopped early, if it did.
func (p *publisher) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *publisher) stop() {
	p.cancel()
	<-p.done
}
