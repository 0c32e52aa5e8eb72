package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/aws-sdk-go-v2/service/ivsrealtime"
	rttypes "github.com/aws/aws-sdk-go-v2/service/ivsrealtime/types"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// The compose phase: four pion publishers on a stage, each sending a
// 1280x720 30 fps H.264 clip and Opus over the stage's WHIP, composed by
// StartComposition (a grid, an encoder configuration of 1280x720 30 fps)
// onto a LOW channel. It measures onair's CPU without and with the
// composition (onair itself and its ffmpeg children apart), the
// composite's real frame rate and size, and the delay from a publisher's
// send of a frame to the download of the composite's LL-HLS part that
// shows it, read from the stamp (stamp.go) drawn into every frame.

const (
	composePubs   = 4
	composeW      = 1280
	composeH      = 720
	composeFPS    = 30
	composeKbps   = 2500 // each publisher's, and the composite's (IVS's default encoder configuration bitrate)
	composeFrames = 240  // an 8 s clip: longer than any delay, so a frame's send is never ambiguous
)

// stampedClip encodes a clip of frames testsrc2 pictures of w x h, each
// with the stamp of (pub, its index), in H.264 Constrained Baseline (what
// a browser sends) with a keyframe every second: access units as NAL
// units, without delimiters.
func stampedClip(pub, frames, w, h, fps, kbps int) ([][][]byte, error) {
	src := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, fps), "-frames:v", strconv.Itoa(frames),
		"-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1")
	rate, gop := fmt.Sprintf("%dk", kbps), strconv.Itoa(fps)
	enc := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", w, h), "-framerate", strconv.Itoa(fps), "-i", "pipe:0",
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1")
	srcOut, err := src.StdoutPipe()
	if err != nil {
		return nil, err
	}
	encIn, err := enc.StdinPipe()
	if err != nil {
		return nil, err
	}
	var out, errs, srcErrs bytes.Buffer
	enc.Stdout, enc.Stderr, src.Stderr = &out, &errs, &srcErrs
	if err := enc.Start(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	if err := src.Start(); err != nil {
		encIn.Close()
		_ = enc.Wait()
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	pic := make([]byte, w*h*3/2)
	var pumpErr error
	for i := range frames {
		if _, err := io.ReadFull(srcOut, pic); err != nil {
			pumpErr = fmt.Errorf("testsrc2 frame %d: %w", i, err)
			break
		}
		paintStamp(pic, w, h, pub, i%stampMaxFrames)
		if _, err := encIn.Write(pic); err != nil {
			pumpErr = fmt.Errorf("encoder: %w", err)
			break
		}
	}
	encIn.Close()
	_, _ = io.Copy(io.Discard, srcOut)
	srcErr, encErr := src.Wait(), enc.Wait()
	if err := errors.Join(pumpErr, srcErr, encErr); err != nil {
		return nil, fmt.Errorf("stamped clip: %w: %s%s", err, srcErrs.Bytes(), errs.Bytes())
	}
	var aus [][][]byte
	var cur [][]byte
	for _, n := range streamtest.SplitAnnexB(out.Bytes()) {
		if len(n) == 0 {
			continue
		}
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			if len(cur) > 0 {
				aus = append(aus, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, n)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	if len(aus) != frames {
		return nil, fmt.Errorf("stamped clip: %d access units of %d frames", len(aus), frames)
	}
	return aus, nil
}

// annexB joins access units into one Annex-B stream.
func annexB(aus [][][]byte) []byte {
	var b []byte
	for _, au := range aus {
		for _, n := range au {
			b = append(append(b, 0, 0, 0, 1), n...)
		}
	}
	return b
}

// decodeLuma decodes an H.264 Annex-B stream of w x h pictures with ffmpeg
// and calls fn with each picture's luma plane, in order, one for each
// access unit (no frame dropped or repeated). fn's plane is reused after
// it returns.
func decodeLuma(stream []byte, w, h int, vf string, fn func(i int, luma []byte)) error {
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "h264", "-i", "pipe:0"}
	if vf != "" {
		args = append(args, "-vf", vf)
	}
	cmd := exec.Command("ffmpeg", append(args, "-fps_mode", "passthrough", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1")...)
	cmd.Stdin = bytes.NewReader(stream)
	var errs bytes.Buffer
	cmd.Stderr = &errs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	luma := make([]byte, w*h)
	var readErr error
	for i := 0; ; i++ {
		if _, err := io.ReadFull(out, luma); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("decoded picture %d: %w", i, err)
			}
			break
		}
		fn(i, luma)
	}
	_, _ = io.Copy(io.Discard, out)
	if err := errors.Join(readErr, cmd.Wait()); err != nil {
		return fmt.Errorf("decode: %w: %s", err, errs.Bytes())
	}
	return nil
}

// opusClip encodes 2 s of a tone in 20 ms Opus packets.
func opusClip() ([][]byte, error) {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "sine=frequency=440:sample_rate=48000", "-t", "2", "-ac", "2", "-c:a", "libopus", "-b:a", "64k",
		"-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", "pipe:1").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg opus: %w", err)
	}
	r, _, err := oggreader.NewWith(bytes.NewReader(out))
	if err != nil {
		return nil, err
	}
	var pkts [][]byte
	for {
		page, _, err := r.ParseNextPage()
		if err != nil {
			break
		}
		if !bytes.HasPrefix(page, []byte("OpusTags")) {
			pkts = append(pkts, page)
		}
	}
	if len(pkts) < 50 {
		return nil, fmt.Errorf("opus clip: %d packets", len(pkts))
	}
	return pkts, nil
}

// sendLog is when each frame of a publisher's clip was sent, every time
// it was (the clip loops).
type sendLog struct {
	mu sync.Mutex
	at [stampMaxFrames][]time.Time
}

func (l *sendLog) add(idx int, t time.Time) {
	l.mu.Lock()
	l.at[idx] = append(l.at[idx], t)
	l.mu.Unlock()
}

// sentBefore is the last send of frame idx at or before t: the picture a
// part downloaded at t shows was sent before it, and the clip is longer
// than any delay, so the send before that is a loop earlier.
func (l *sendLog) sentBefore(idx int, t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.at[idx]
	i, _ := slices.BinarySearchFunc(ts, t, func(a, b time.Time) int { return a.Compare(b) })
	for ; i < len(ts) && !ts[i].After(t); i++ {
	}
	if i == 0 {
		return time.Time{}, false
	}
	return ts[i-1], true
}

// sentIn counts the frames sent in [from, to).
func (l *sendLog) sentIn(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ts := range l.at {
		for _, t := range ts {
			if !t.Before(from) && t.Before(to) {
				n++
			}
		}
	}
	return n
}

var opusCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
	SDPFmtpLine: "minptime=10;useinbandfec=1"}

// composePublish publishes clip and opus in real time over the stage's
// WHIP until ctx ends, noting each video frame's send in log. On a PLI
// (a decoder starting) it skips ahead to the clip's next keyframe, never
// back: a frame sent twice close together would make its delay
// ambiguous.
func composePublish(ctx context.Context, api *webrtc.API, whip, token string, clip [][][]byte, opus [][]byte,
	log *sendLog) (func(), error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	vt, err := webrtc.NewTrackLocalStaticSample(stageCap, "video", "bench")
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	at, err := webrtc.NewTrackLocalStaticSample(opusCap, "audio", "bench")
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	vs, err := pc.AddTrack(vt)
	if err == nil {
		_, err = pc.AddTrack(at)
	}
	if err == nil {
		err = negotiate(ctx, pc, whip, token, nil)
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pli := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			pkts, _, err := vs.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					select {
					case pli <- struct{}{}:
					default:
					}
				}
			}
		}
	})
	wg.Go(func() {
		frame, aframe := time.Second/composeFPS, 20*time.Millisecond
		start := time.Now()
		vi, ai, n := 0, 0, 0
		for {
			nextV, nextA := start.Add(time.Duration(vi)*frame), start.Add(time.Duration(ai)*aframe)
			next := min(nextV.UnixNano(), nextA.UnixNano())
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(time.Unix(0, next))):
			}
			if !nextA.After(nextV) {
				if err := at.WriteSample(media.Sample{Data: opus[ai%len(opus)], Duration: aframe}); err != nil {
					return
				}
				ai++
				continue
			}
			select {
			case <-pli:
				if n%composeFPS != 0 {
					n = (n/composeFPS + 1) * composeFPS % len(clip)
				}
			default:
			}
			log.add(n, time.Now())
			if err := vt.WriteSample(media.Sample{Data: annexB(clip[n : n+1]), Duration: frame}); err != nil {
				return
			}
			n = (n + 1) % len(clip)
			vi++
		}
	})
	return func() { cancel(); _ = pc.Close(); wg.Wait() }, nil
}

// compositePart is one LL-HLS part of the composite as the player got it:
// its video samples (AVCC) and when its download ended.
type compositePart struct {
	got     time.Time
	samples []*fmp4.Sample
}

// procCPU is the CPU time of root itself and of its descendants (alive,
// and those it has reaped), and how many of its descendants are ffmpeg.
func procCPU(root int) (self, children time.Duration, ffmpegs int) {
	type st struct {
		ppid        int
		comm        string
		own, reaped int64
	}
	stats := map[int]st{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i || j+2 >= len(b) {
			continue
		}
		f := strings.Fields(string(b[j+2:]))
		if len(f) < 15 {
			continue
		}
		v := func(k int) int64 { n, _ := strconv.ParseInt(f[k], 10, 64); return n }
		ppid, _ := strconv.Atoi(f[1])
		stats[pid] = st{ppid: ppid, comm: string(b[i+1 : j]), own: v(11) + v(12), reaped: v(13) + v(14)}
	}
	var selfT, kidsT int64
	for pid, s := range stats {
		if pid == root {
			selfT, kidsT = selfT+s.own, kidsT+s.reaped
			continue
		}
		for p, hops := s.ppid, 0; p > 1 && hops < 64; p, hops = stats[p].ppid, hops+1 {
			if p == root {
				kidsT += s.own + s.reaped
				if s.comm == "ffmpeg" {
					ffmpegs++
				}
				break
			}
		}
	}
	tick := time.Second / 100 // USER_HZ
	return time.Duration(selfT) * tick, time.Duration(kidsT) * tick, ffmpegs
}

// cpuMeter measures onair and its children apart over a span.
type cpuMeter struct {
	pid          int
	t0           time.Time
	self0, kids0 time.Duration
}

func startCPUMeter(pid int) cpuMeter {
	s, k, _ := procCPU(pid)
	return cpuMeter{pid: pid, t0: time.Now(), self0: s, kids0: k}
}

// read returns onair's and its children's CPU since start, in % of a
// core, and how many ffmpeg children run now.
func (m cpuMeter) read() (self, kids float64, ffmpegs int) {
	s, k, n := procCPU(m.pid)
	wall := time.Since(m.t0).Seconds()
	return 100 * (s - m.self0).Seconds() / wall, 100 * (k - m.kids0).Seconds() / wall, n
}

// loadAvg is the machine's 1-minute load average: on a shared machine,
// how much else ran beside the measured server.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// probeSegment runs ffprobe on a complete segment (with its init section)
// of the media playlist: its size and the frames it holds.
func probeSegment(ctx context.Context, media string) (w, h, frames int, dur float64, err error) {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	var buf bytes.Buffer
	b, err := get(ctx, hc, media, &buf)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	var pl playlist.Media
	if err := pl.Unmarshal(b); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("media playlist: %w", err)
	}
	if pl.Map == nil || len(pl.Segments) == 0 {
		return 0, 0, 0, 0, errors.New("media playlist without an init section or a segment")
	}
	seg := pl.Segments[len(pl.Segments)-1]
	base, err := url.Parse(media)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	var data []byte
	for _, u := range []string{pl.Map.URI, seg.URI} {
		ru, err := base.Parse(u)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		b, err := get(ctx, hc, ru.String(), &buf)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		data = append(data, b...)
	}
	f, err := os.CreateTemp("", "composite-*.mp4")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	f.Close()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=width,height,nb_read_frames", "-of", "json", f.Name()).Output()
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("ffprobe: %w", err)
	}
	var probe struct {
		Streams []struct {
			Width, Height int
			Frames        string `json:"nb_read_frames"`
		}
	}
	if err := json.Unmarshal(out, &probe); err != nil || len(probe.Streams) == 0 {
		return 0, 0, 0, 0, fmt.Errorf("ffprobe: %w: %s", err, out)
	}
	s := probe.Streams[0]
	frames, _ = strconv.Atoi(s.Frames)
	return s.Width, s.Height, frames, seg.Duration.Seconds(), nil
}

// composeStage makes a stage with composePubs publishers sending the
// clips, and waits until the stage has them all publishing.
func composeStage(ctx context.Context, s *onair, rt *ivsrealtime.Client, clips [][][][]byte, opus [][]byte) (
	stageARN *string, logs []*sendLog, stop func(), err error) {
	api, err := stageAPI(true)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{Name: aws.String("bench")})
	if err != nil {
		return nil, nil, nil, err
	}
	stageARN = st.Stage.Arn
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	for i := range composePubs {
		tok, err := rt.CreateParticipantToken(ctx, &ivsrealtime.CreateParticipantTokenInput{StageArn: stageARN,
			UserId: aws.String(fmt.Sprintf("publisher%d", i)), Capabilities: []rttypes.ParticipantTokenCapability{
				rttypes.ParticipantTokenCapabilityPublish}})
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		logs = append(logs, &sendLog{})
		f, err := composePublish(ctx, api, s.endpoint+"/stage/whip", aws.ToString(tok.ParticipantToken.Token), clips[i], opus, logs[i])
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		stops = append(stops, f)
	}
	for {
		g, err := rt.GetStage(ctx, &ivsrealtime.GetStageInput{Arn: stageARN})
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		n := 0
		if g.Stage.ActiveSessionId != nil {
			l, err := rt.ListParticipants(ctx, &ivsrealtime.ListParticipantsInput{StageArn: stageARN,
				SessionId: g.Stage.ActiveSessionId, FilterByPublished: true})
			if err != nil {
				stop()
				return nil, nil, nil, err
			}
			n = len(l.Participants)
		}
		if n == composePubs {
			return stageARN, logs, stop, nil
		}
		select {
		case <-ctx.Done():
			stop()
			return nil, nil, nil, fmt.Errorf("%d of %d publishers publishing: %w", n, composePubs, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// compositeVideo reads the composite's init section: its H.264 track and
// the pictures' size.
func compositeVideo(ctx context.Context, hc *http.Client, mediaURL *url.URL) (*fmp4.InitTrack, int, int, error) {
	var buf bytes.Buffer
	b, err := get(ctx, hc, mediaURL.String(), &buf)
	if err != nil {
		return nil, 0, 0, err
	}
	var pl playlist.Media
	if err := pl.Unmarshal(b); err != nil || pl.Map == nil {
		return nil, 0, 0, fmt.Errorf("composite media playlist without an init section: %w", err)
	}
	iu, err := mediaURL.Parse(pl.Map.URI)
	if err != nil {
		return nil, 0, 0, err
	}
	if b, err = get(ctx, hc, iu.String(), &buf); err != nil {
		return nil, 0, 0, err
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		return nil, 0, 0, fmt.Errorf("composite init: %w", err)
	}
	for _, t := range init.Tracks {
		if c, ok := t.Codec.(*mp4codecs.H264); ok {
			var sps h264.SPS
			if err := sps.Unmarshal(c.SPS); err != nil {
				return nil, 0, 0, fmt.Errorf("composite SPS: %w", err)
			}
			return t, sps.Width(), sps.Height(), nil
		}
	}
	return nil, 0, 0, errors.New("the composite has no H.264 track")
}

// followComposite follows the composite's parts as a player does: those
// that end downloading before warm are not kept; at the first kept one it
// calls onStart; it returns once it has kept span's worth.
func followComposite(ctx context.Context, f *follower, video *fmp4.InitTrack, warm time.Time, span time.Duration,
	onStart func()) ([]compositePart, error) {
	var parts []compositePart
	total := int((time.Until(warm) + span) / time.Second)
	t0 := time.Now()
	defer progress("compose: following (s)", total, total)
	for {
		data, got, err := f.next(ctx)
		if err != nil {
			return nil, err
		}
		progress("compose: following (s)", min(int(time.Since(t0)/time.Second), total), total)
		if got.Before(warm) {
			continue
		}
		if len(parts) == 0 {
			onStart()
		}
		var ps fmp4.Parts
		if err := ps.Unmarshal(data); err != nil {
			return nil, fmt.Errorf("composite part: %w", err)
		}
		cp := compositePart{got: got}
		for _, p := range ps {
			for _, t := range p.Tracks {
				if t.ID != video.ID {
					continue
				}
				// data is the follower's buffer: keep copies.
				for _, smp := range t.Samples {
					c := *smp
					c.Payload = bytes.Clone(smp.Payload)
					cp.samples = append(cp.samples, &c)
				}
			}
		}
		parts = append(parts, cp)
		if got.Sub(parts[0].got) >= span {
			return parts, nil
		}
	}
}

// compositeRead is what the stamps in the composite's pictures say.
type compositeRead struct {
	delays         []time.Duration // per publisher frame, its first showing; sorted
	perPub         []int           // frames measured per publisher
	samples        int             // video samples in the parts
	pictures       int             // decoded, from the first keyframe
	unread, unsent int             // tiles without a stamp; stamps of a frame not sent before
	seconds        float64         // media time of the decoded pictures
	skipped        int             // canvases missing from the media timeline (a sample lasting n frames skips n-1)
}

// readComposite decodes the parts' video from its first keyframe (every
// sample one picture) and reads the stamp in each quadrant of each
// picture.
func readComposite(parts []compositePart, video *fmp4.InitTrack, w, h int, logs []*sendLog) (compositeRead, error) {
	codec := video.Codec.(*mp4codecs.H264)
	var r compositeRead
	var stream []byte
	var owner []int // the part of each decoded picture
	var dur uint64
	keyed := false
	for pi, p := range parts {
		for _, smp := range p.samples {
			r.samples++
			keyed = keyed || !smp.IsNonSyncSample
			if !keyed {
				continue
			}
			var au h264.AVCC
			if err := au.Unmarshal(smp.Payload); err != nil {
				return r, fmt.Errorf("composite sample: %w", err)
			}
			if !smp.IsNonSyncSample {
				au = append([][]byte{codec.SPS, codec.PPS}, au...)
			}
			b, err := h264.AnnexB(au).Marshal()
			if err != nil {
				return r, err
			}
			stream = append(stream, b...)
			owner = append(owner, pi)
			dur += uint64(smp.Duration)
			frame := float64(video.TimeScale) / composeFPS
			r.skipped += max(int(float64(smp.Duration)/frame+0.5)-1, 0)
		}
	}
	r.seconds = float64(dur) / float64(video.TimeScale)
	type shown struct {
		pub  int
		sent time.Time
	}
	seen := map[shown]bool{}
	r.perPub = make([]int, len(logs))
	err := decodeLuma(stream, w, h, "", func(i int, luma []byte) {
		r.pictures++
		if i >= len(owner) {
			return
		}
		got := parts[owner[i]].got
		for q := range 4 {
			pub, idx, ok := readStamp(luma, w, h, q%2*w/2, q/2*h/2, float64(w/2)/composeW)
			if !ok || pub >= len(logs) {
				r.unread++
				continue
			}
			sent, ok := logs[pub].sentBefore(idx, got)
			if !ok {
				r.unsent++
				continue
			}
			// A picture the composite shows again (its publisher's next
			// one not decoded yet) is not a new frame: only its first
			// showing counts.
			if k := (shown{pub, sent}); !seen[k] {
				seen[k] = true
				r.delays = append(r.delays, got.Sub(sent))
				r.perPub[pub]++
			}
		}
	})
	if err != nil {
		return r, err
	}
	if r.pictures != len(owner) {
		return r, fmt.Errorf("%d pictures decoded of %d samples", r.pictures, len(owner))
	}
	for i, n := range r.perPub {
		if n == 0 {
			return r, fmt.Errorf("publisher %d's stamp is in none of %d composite pictures (%d tiles unread)", i, r.pictures, r.unread)
		}
	}
	slices.Sort(r.delays)
	return r, nil
}

// composeBench is the compose phase.
func composeBench(k kind, o options) ([]result, error) {
	s, err := k.onairOnly()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*o.span+5*time.Minute)
	defer cancel()

	fmt.Fprintf(os.Stderr, "  encoding %d stamped %dx%d %d fps clips\n", composePubs, composeW, composeH, composeFPS)
	clips := make([][][][]byte, composePubs)
	for i := range clips {
		if clips[i], err = stampedClip(i, composeFrames, composeW, composeH, composeFPS, composeKbps); err != nil {
			return nil, err
		}
	}
	opus, err := opusClip()
	if err != nil {
		return nil, err
	}
	rt := ivsrealtime.New(ivsrealtime.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), Credentials: s.creds})
	ch, err := s.client.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("composite"),
		Type: types.ChannelTypeBasicChannelType, LatencyMode: types.ChannelLatencyModeLowLatency})
	if err != nil {
		return nil, err
	}
	enc, err := rt.CreateEncoderConfiguration(ctx, &ivsrealtime.CreateEncoderConfigurationInput{Name: aws.String("720p30"),
		Video: &rttypes.Video{Width: aws.Int32(composeW), Height: aws.Int32(composeH), Framerate: aws.Float32(composeFPS),
			Bitrate: aws.Int32(composeKbps * 1000)}})
	if err != nil {
		return nil, err
	}
	stageARN, logs, stopPubs, err := composeStage(ctx, s, rt, clips, opus)
	if err != nil {
		return nil, err
	}
	defer stopPubs()

	// onair forwarding the four publishers to nobody: the baseline.
	time.Sleep(3 * time.Second)
	m := startCPUMeter(s.pid())
	time.Sleep(max(o.span/2, 10*time.Second))
	baseSelf, baseKids, _ := m.read()
	fmt.Fprintf(os.Stderr, "  without a composition: onair %.0f %%, children %.0f %% of a core\n", baseSelf, baseKids)

	t0 := time.Now()
	started, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: stageARN,
		Layout: &rttypes.LayoutConfiguration{Grid: &rttypes.GridConfiguration{}},
		Destinations: []rttypes.DestinationConfiguration{{Name: aws.String("live"), Channel: &rttypes.ChannelDestinationConfiguration{
			ChannelArn: ch.Channel.Arn, EncoderConfigurationArn: enc.EncoderConfiguration.Arn}}}})
	if err != nil {
		return nil, err
	}
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	mediaURLs, err := playUntilReady(pctx, hc, aws.ToString(ch.Channel.PlaybackUrl))
	pcancel()
	if err != nil {
		// Say what became of the composition.
		if g, gerr := rt.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: started.Composition.Arn}); gerr == nil {
			return nil, fmt.Errorf("composition %s, the composite: %w", g.Composition.State, err)
		}
		return nil, err
	}
	startup := time.Since(t0)
	video, cw, chh, err := compositeVideo(ctx, hc, mediaURLs[0])
	if err != nil {
		return nil, err
	}

	// Warm up, then follow the composite for the span, measuring the CPU
	// meanwhile. The parts are decoded after the span, so that the decode
	// takes no CPU from onair.
	f := newFollower(mediaURLs[0])
	defer f.close()
	var gen time.Duration
	parts, err := followComposite(ctx, f, video, time.Now().Add(5*time.Second), o.span, func() {
		m, gen = startCPUMeter(s.pid()), self()
	})
	if err != nil {
		return nil, err
	}
	cpuSelf, cpuKids, ffmpegs := m.read()
	gen = self() - gen
	spanStart, spanEnd := parts[0].got, parts[len(parts)-1].got
	wall := spanEnd.Sub(spanStart)
	sent := 0
	for _, l := range logs {
		sent += l.sentIn(spanStart, spanEnd)
	}
	sendFPS := float64(sent) / composePubs / wall.Seconds()
	pw, ph, pframes, pdur, err := probeSegment(ctx, mediaURLs[0].String())
	if err != nil {
		return nil, err
	}
	r, err := readComposite(parts, video, cw, chh, logs)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  composite %dx%d: %d samples in %.1f s of parts; %d pictures decoded, %d tiles unread, "+
		"%d with no send before; frames per publisher %v\n", cw, chh, r.samples, wall.Seconds(), r.pictures, r.unread, r.unsent, r.perPub)
	total := cpuSelf + cpuKids
	return []result{
		{Phase: "compose", Name: "4 × 720p30 publishers, no composition: onair CPU (its children)", Value: round(baseSelf, 1),
			Unit: fmt.Sprintf("(%.1f) %% of a core", baseKids)},
		{Phase: "compose", Name: fmt.Sprintf("4 × 720p30 grid → 720p30 channel: onair + its %d ffmpeg children CPU", ffmpegs),
			Value: round(total, 1), Unit: fmt.Sprintf("%% of a core (onair %.1f, ffmpeg %.1f)", cpuSelf, cpuKids),
			Target: "≤ 100 % (1 core)"},
		{Phase: "compose", Name: "the composition's own CPU (composing − no composition)", Value: round(total-baseSelf-baseKids, 1),
			Unit: "% of a core"},
		{Phase: "compose", Name: "composite (ffprobe on a segment): size / frame rate", Value: float64(pw),
			Unit: fmt.Sprintf("x %d / %.2f fps (%d frames in %.2f s)", ph, float64(pframes)/pdur, pframes, pdur), Target: "1280x720 / 30 fps"},
		{Phase: "compose", Name: "composite pictures per second of wall time (LL-HLS parts followed) / canvases skipped in its media time",
			Value: round(float64(r.samples)/wall.Seconds(), 2), Unit: fmt.Sprintf("fps / %d in %.0f s", r.skipped, r.seconds)},
		{Phase: "compose", Name: "new publisher pictures per tile per second of composite / frames each publisher sent per second",
			Value: round(float64(len(r.delays))/composePubs/r.seconds, 2), Unit: fmt.Sprintf("/ %.2f fps", sendFPS)},
		{Phase: "compose", Name: "delay publisher's frame sent → composite's LL-HLS part downloaded p50 / p95 / max",
			Value: ms(quantile(r.delays, 0.5)), Unit: fmt.Sprintf("/ %.1f / %.1f ms", ms(quantile(r.delays, 0.95)), ms(quantile(r.delays, 1))),
			Target: "≤ 500 ms"},
		{Phase: "compose", Name: "tile frames measured (first showings, 4 tiles)", Value: float64(len(r.delays)),
			Unit: fmt.Sprintf("over %.0f s", wall.Seconds())},
		{Phase: "compose", Name: "StartComposition → composite playable (multivariant and media playlists)", Value: ms(startup), Unit: "ms"},
		{Phase: "compose", Name: "load generator CPU while following / the machine's load average (1 min) at the end",
			Value: round(100*gen.Seconds()/wall.Seconds(), 1), Unit: "% of a core / " + loadAvg()},
	}, nil
}
