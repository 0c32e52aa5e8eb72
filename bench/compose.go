package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// The compose phase: four 720p30 publishers on a stage (pion, H.264, one
// layer each), composed in a grid (StartComposition) onto a LOW channel at
// 720p30. It measures the server's CPU with the composition running (its
// ffmpeg children included), and the delay from a participant's frame to
// the composite's LL-HLS part that first shows it: the first publisher's
// picture flips between black and white every few seconds, and a follower
// of the channel's parts decodes them after each flip until the
// participant's tile (top left) has the new colour.

const (
	composeSize  = "1280x720"
	composeFlips = 20
	composeEvery = 3 * time.Second
)

// colorClip encodes 1 s of one colour at 720p30, a keyframe first, as
// access units in Annex-B.
func colorClip(color string) ([][]byte, error) {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "color=c="+color+":size="+composeSize+":rate=30", "-t", "1",
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
		"-pix_fmt", "yuv420p", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg %s: %w", color, err)
	}
	return splitAUs(out), nil
}

// splitAUs splits an Annex-B stream at its access unit delimiters.
func splitAUs(b []byte) [][]byte {
	aud := []byte{0, 0, 0, 1, 9}
	var aus [][]byte
	for _, p := range bytes.Split(b, aud)[1:] {
		aus = append(aus, append(append([]byte{}, aud...), p...))
	}
	return aus
}

// flatten turns layerClip's access units (NAL unit lists) into Annex-B.
func flatten(c [][][]byte) [][]byte {
	out := make([][]byte, len(c))
	for i, au := range c {
		for _, n := range au {
			out[i] = append(append(out[i], 0, 0, 0, 1), n...)
		}
	}
	return out
}

// composePublish publishes at 30 fps, OBS-like (the bare WHIP URL, no
// events socket), the access unit next returns for each frame; a PLI
// makes next start over at a keyframe (restart is set).
func composePublish(ctx context.Context, api *webrtc.API, whip string, tok stageToken, next func(restart bool) []byte) (func(), error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	tr, err := webrtc.NewTrackLocalStaticSample(stageCap, "video", "bench")
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	sender, err := pc.AddTrack(tr)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	if err := negotiate(ctx, pc, whip, tok.Token, nil); err != nil {
		_ = pc.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pli := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			pkts, _, err := sender.ReadRTCP()
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
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			restart := false
			select {
			case <-pli:
				restart = true
			default:
			}
			if err := tr.WriteSample(media.Sample{Data: next(restart), Duration: time.Second / 30}); err != nil {
				return
			}
		}
	})
	return func() { cancel(); _ = pc.Close(); wg.Wait() }, nil
}

// flipper is the first publisher: black, then white, then black..., each
// colour starting with its keyframe; sent is when the first frame of the
// current colour went out.
type flipper struct {
	mu    sync.Mutex
	clips [2][][]byte
	cur   int // index into clips
	i     int
	flip  bool // the next frame starts the other colour
	sent  time.Time
}

func (f *flipper) next(restart bool) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flip {
		f.cur, f.i, f.flip, f.sent = 1-f.cur, 0, false, time.Now()
	}
	if restart {
		f.i = 0
	}
	c := f.clips[f.cur]
	au := c[f.i%len(c)]
	f.i++
	return au
}

// looper loops a clip; a restart goes back to its keyframe.
func looper(c [][]byte) func(bool) []byte {
	i := 0
	return func(restart bool) []byte {
		if restart {
			i = 0
		}
		au := c[i%len(c)]
		i++
		return au
	}
}

// topLeftBright decodes init plus the parts of the current GOP and says
// whether the last picture's top-left tile (the first publisher's in a
// 2x2 grid) is bright.
func topLeftBright(ctx context.Context, data []byte) (bool, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
		"-vf", "scale=32:18", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		return false, fmt.Errorf("decode the composite: %w", err)
	}
	if len(out) < 32*18 {
		return false, errors.New("no picture decoded")
	}
	last := out[len(out)-32*18:]
	return last[4*32+8] > 128, nil
}

func composeBench(k kind, _ options) ([]result, error) {
	s, err := k.onairOnly()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := s.client.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("composite"),
		Type: types.ChannelTypeBasicChannelType, LatencyMode: types.ChannelLatencyModeLowLatency})
	if err != nil {
		return nil, err
	}
	channelARN, playURL := aws.ToString(out.Channel.Arn), aws.ToString(out.Channel.PlaybackUrl)
	var created struct {
		Stage struct {
			Arn string `json:"arn"`
		} `json:"stage"`
	}
	if err := s.signedPost(ctx, "CreateStage", map[string]any{"name": "compose"}, &created); err != nil {
		return nil, err
	}
	stageARN := created.Stage.Arn
	var enc struct {
		EncoderConfiguration struct {
			Arn string `json:"arn"`
		} `json:"encoderConfiguration"`
	}
	if err := s.signedPost(ctx, "CreateEncoderConfiguration", map[string]any{"name": "p720",
		"video": map[string]any{"width": 1280, "height": 720, "framerate": 30, "bitrate": 2_500_000}}, &enc); err != nil {
		return nil, err
	}

	black, err := colorClip("black")
	if err != nil {
		return nil, err
	}
	white, err := colorClip("white")
	if err != nil {
		return nil, err
	}
	src, err := layerClip(composeSize, 1700)
	if err != nil {
		return nil, err
	}
	api, err := stageAPI()
	if err != nil {
		return nil, err
	}
	whip := s.endpoint + "/stage/whip"
	flip := &flipper{clips: [2][][]byte{black, white}}
	nexts := []func(bool) []byte{flip.next, looper(flatten(src)), looper(flatten(src)), looper(flatten(src))}
	for i, next := range nexts {
		tok, err := s.stageToken(ctx, stageARN, fmt.Sprintf("p%d", i))
		if err != nil {
			return nil, err
		}
		stop, err := composePublish(ctx, api, whip, tok, next)
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		defer stop()
		time.Sleep(500 * time.Millisecond) // arrival order: the flipper first, top left
	}
	var started struct {
		Composition struct {
			Arn string `json:"arn"`
		} `json:"composition"`
	}
	if err := s.signedPost(ctx, "StartComposition", map[string]any{"stageArn": stageARN, "destinations": []any{
		map[string]any{"channel": map[string]any{"channelArn": channelARN, "encoderConfigurationArn": enc.EncoderConfiguration.Arn}}}},
		&started); err != nil {
		return nil, err
	}
	defer func() {
		_ = s.signedPost(context.Background(), "StopComposition", map[string]any{"arn": started.Composition.Arn}, &struct{}{})
	}()
	hc := newHTTPClient()
	media, err := playUntilReady(ctx, hc, playURL)
	if err != nil {
		return nil, err
	}
	time.Sleep(5 * time.Second) // every decoder at its tile, the encoder settled
	m := startMeter(s.pid())
	time.Sleep(20 * time.Second)
	cpu, rss := m.read()

	// The delay: follow the parts; after each flip, decode the current
	// GOP with every new part until the tile shows the new colour.
	var buf bytes.Buffer
	pl, err := get(ctx, hc, media[0].String(), &buf)
	if err != nil {
		return nil, err
	}
	mapAt := bytes.Index(pl, []byte("#EXT-X-MAP:"))
	if mapAt < 0 {
		return nil, errors.New("no EXT-X-MAP in the composite's playlist")
	}
	initURL, err := media[0].Parse(uriOf(pl[mapAt:]))
	if err != nil {
		return nil, err
	}
	var initBuf bytes.Buffer
	initData, err := get(ctx, hc, initURL.String(), &initBuf)
	if err != nil {
		return nil, err
	}
	initData = bytes.Clone(initData)
	f := newFollower(media[0])
	defer f.close()
	var delays []time.Duration
	gop := bytes.Clone(initData)
	fmt.Fprintf(os.Stderr, "  composition: server CPU %.1f %% of a core, RSS %.1f MiB\n", cpu, rss)
	// The follower reads every part on its own goroutine, so that the
	// decoding below neither delays a part's download time nor makes it
	// fall off the live edge.
	type partAt struct {
		data        []byte
		got         time.Time
		independent bool
	}
	parts := make(chan partAt, 1024)
	fctx, fstop := context.WithCancel(ctx)
	var fwg sync.WaitGroup
	defer fwg.Wait()
	defer fstop()
	var ferr error
	fwg.Go(func() {
		defer close(parts)
		for {
			data, got, err := f.next(fctx)
			if err != nil {
				ferr = err
				return
			}
			select {
			case parts <- partAt{bytes.Clone(data), got, independent(data)}:
			case <-fctx.Done():
				return
			}
		}
	})
	pending, want, haveKey := false, false, false
	nextFlip := time.Now()
	for len(delays) < composeFlips {
		if !pending && haveKey && time.Now().After(nextFlip) {
			flip.mu.Lock()
			flip.flip, flip.sent = true, time.Time{}
			want = flip.cur == 0 // to white
			flip.mu.Unlock()
			pending = true
		}
		p, ok := <-parts
		if !ok {
			fwg.Wait()
			return nil, fmt.Errorf("the follower of the composite's parts stopped: %w", ferr)
		}
		if p.independent {
			gop, haveKey = append(gop[:len(initData)], p.data...), true
		} else {
			gop = append(gop, p.data...)
		}
		if !pending {
			continue
		}
		flip.mu.Lock()
		sent := flip.sent
		flip.mu.Unlock()
		if sent.IsZero() || p.got.Before(sent) {
			continue
		}
		bright, err := topLeftBright(ctx, gop)
		if err != nil {
			continue // not a whole GOP yet
		}
		if bright == want {
			delays = append(delays, p.got.Sub(sent))
			progress("compose delay (flips)", len(delays), composeFlips)
			// The next flip at a random phase to the composite's frames
			// and parts, so the quantiles sample every wait.
			pending, nextFlip = false, time.Now().Add(composeEvery+rand.N(time.Second))
		} else if p.got.Sub(sent) > 10*time.Second {
			return nil, errors.New("the flip never showed in the composite")
		}
	}
	fmt.Fprintf(os.Stderr, "\n")
	return []result{
		{Phase: "compose", Name: "4 publishers 720p30 → grid 720p30 onto a LOW channel: server CPU (ffmpeg included)", Value: round(cpu, 1),
			Unit: fmt.Sprintf("%% of a core / %.1f MiB", rss), Target: "≤ 100 % of a core"},
		{Phase: "compose", Name: "delay participant frame → composite LL-HLS part p50", Value: ms(percentile(delays, 0.5)), Unit: "ms", Target: "≤ 500 ms"},
		{Phase: "compose", Name: "delay p95 / max", Value: ms(percentile(delays, 0.95)), Unit: fmt.Sprintf("/ %.1f ms (%d flips)", ms(percentile(delays, 1)), len(delays))},
	}, nil
}

// independent says whether an fMP4 part starts with a keyframe: no
// track's first sample is a non-sync sample (audio samples are all sync).
func independent(part []byte) bool {
	var ps fmp4.Parts
	if err := ps.Unmarshal(part); err != nil || len(ps) == 0 {
		return false
	}
	for _, p := range ps {
		for _, t := range p.Tracks {
			if len(t.Samples) > 0 && t.Samples[0].IsNonSyncSample {
				return false
			}
		}
	}
	return true
}
