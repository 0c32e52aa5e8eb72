package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// The stage phase: one 720p30 simulcast publisher (pion, H.264 hi/mid/low)
// and a ramp of pion subscribers of one stage, each with its events
// WebSocket and its subscribe peer connection, all in this process.

const (
	stageFreeze = time.Second            // no video packet this long is a freeze
	stageBehind = 500 * time.Millisecond // a newest frame this old is behind
	stageWindow = 8 * time.Second        // each step's measured span
)

// stageLayers are the publisher's encodings, highest first, as a browser
// sends 720p simulcast.
var stageLayers = []struct {
	rid, size string
	kbps      int
}{{"hi", "1280x720", 1700}, {"mid", "640x360", 500}, {"low", "320x180", 150}}

// stageAPI is the pion API of the publisher and every subscriber: H.264
// only, loopback host candidates only, and the RTCP a browser sends:
// receiver and sender reports, NACKs of lost packets (at most 10 a packet,
// as libwebrtc) and answers to onair's NACKs. Without a registry pion
// would add its default interceptors, stats and TWCC feedback too, and
// NACK a lost packet every 100 ms for as long as it is missing. No stats,
// no TWCC: the load generator keeps its CPU for reading. withOpus adds a
// browser's audio beside the video (the compose phase's publishers).
func stageAPI(withOpus bool) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: stageCap, PayloadType: 102},
		webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if withOpus {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCap, PayloadType: 111},
			webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNackWithOptions(me, ir, []nack.GeneratorOption{nack.GeneratorMaxNacksPerPacket(10)}); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

var stageCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}

// layerClip encodes 2 s of testsrc2 at size: access units in Annex-B NAL
// units, a keyframe (with SPS and PPS) first and every second.
func layerClip(size string, kbps int) ([][][]byte, error) {
	rate := fmt.Sprintf("%dk", kbps)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30", "-t", "2",
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
		"-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg %s: %w", size, err)
	}
	var aus [][][]byte
	var cur [][]byte
	for _, n := range streamtest.SplitAnnexB(out) {
		if len(n) == 0 {
			continue
		}
		if n[0]&0x1f == 9 {
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
	if len(aus) < 30 {
		return nil, fmt.Errorf("ffmpeg %s: %d frames", size, len(aus))
	}
	return aus, nil
}

// signedPost calls one operation of onair's Stages API, signed as the
// IVS API is.
func (s *onair) signedPost(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/"+op, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ivs", "us-east-1", time.Now()); err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s %s", op, res.Status, b)
	}
	return json.Unmarshal(b, out)
}

type stageToken struct {
	ParticipantID string `json:"participantId"`
	Token         string `json:"token"`
}

func (s *onair) stageToken(ctx context.Context, arn, user string) (stageToken, error) {
	var out struct {
		ParticipantToken stageToken `json:"participantToken"`
	}
	err := s.signedPost(ctx, "CreateParticipantToken", map[string]any{"stageArn": arn, "userId": user,
		"capabilities": []string{"PUBLISH", "SUBSCRIBE"}}, &out)
	return out.ParticipantToken, err
}

// stageSocket is a participant's events WebSocket: read and dropped, with
// a PING every 15 s as the SDK sends (the server ends a silent one).
type stageSocket struct {
	ws *wsReader
}

func joinStage(ctx context.Context, events, stageID, token string, pings *sync.WaitGroup) (*stageSocket, error) {
	u := events + "?error_over_ws=1&topic=" + url.QueryEscape(stageID+"/publishers")
	ws, err := dialWS(ctx, u, token)
	if err != nil {
		return nil, err
	}
	// The join is done when the first STAGE_STATE comes.
	for {
		b, err := ws.next()
		if err != nil {
			ws.close()
			return nil, fmt.Errorf("events: %w", err)
		}
		if bytes.Contains(b, []byte(`"STAGE_STATE"`)) {
			break
		}
		if bytes.Contains(b, []byte(`JOIN_ERROR`)) {
			ws.close()
			return nil, fmt.Errorf("events: %s", b)
		}
	}
	ss := &stageSocket{ws: ws}
	go func() {
		for {
			if _, err := ws.next(); err != nil {
				return
			}
		}
	}()
	pings.Go(func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				ws.close()
				return
			case <-t.C:
				if writeWSText(ws, []byte(`{"type":"PING"}`)) != nil {
					return
				}
			}
		}
	})
	return ss, nil
}

// writeWSText sends one masked text frame (a client's frames are masked).
func writeWSText(ws *wsReader, p []byte) error {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f := append([]byte{0x81, 0x80 | byte(len(p))}, mask[:]...)
	for i, c := range p {
		f = append(f, c^mask[i%4])
	}
	_, err := ws.conn.Write(f)
	return err
}

// postSDP sends a WHIP offer and returns the answer.
func postSDP(ctx context.Context, u, token, offer string, hdr map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(offer))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %s %s", u, res.Status, b)
	}
	return string(b), nil
}

// negotiate makes pc's offer (every candidate in it), posts it, applies
// the answer.
func negotiate(ctx context.Context, pc *webrtc.PeerConnection, u, token string, hdr map[string]string) error {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return err
	}
	<-g
	answer, err := postSDP(ctx, u, token, pc.LocalDescription().SDP, hdr)
	if err != nil {
		return err
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
}

// stagePublish publishes the three layers in real time until ctx ends,
// every frame led by an SEI that stamps its send time (the same time on
// every layer), and a keyframe on a PLI (at most one per layer per 300 ms).
func stagePublish(ctx context.Context, api *webrtc.API, whip string, tok stageToken, clips [][][][]byte) (func(), error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	var sender *webrtc.RTPSender
	var tracks []*webrtc.TrackLocalStaticRTP
	for i, l := range stageLayers {
		tr, err := webrtc.NewTrackLocalStaticRTP(stageCap, "video", "bench", webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
		tracks = append(tracks, tr)
		if i == 0 {
			sender, err = pc.AddTrack(tr)
		} else {
			err = sender.AddEncoding(tr)
		}
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	if err := negotiate(ctx, pc, whip+"/publish/"+tok.ParticipantID, tok.Token, nil); err != nil {
		_ = pc.Close()
		return nil, err
	}
	var midID, ridID uint8
	for _, e := range sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == sender {
			mid = tr.Mid()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pli := make([]chan struct{}, len(stageLayers))
	for i, l := range stageLayers {
		pli[i] = make(chan struct{}, 1)
		wg.Go(func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						select {
						case pli[i] <- struct{}{}:
						default:
						}
					}
				}
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		pz := make([]rtp.Packetizer, len(stageLayers))
		next := make([]int, len(stageLayers))
		lastKey := make([]time.Time, len(stageLayers))
		// A frame's RTP timestamp is its capture time, as a browser's: a
		// late tick (the load generator starved) is a longer frame, not a
		// clock that falls behind (onair's read lag reads the timestamps).
		t0, clock := time.Now(), make([]uint32, len(stageLayers))
		for i := range pz {
			pz[i] = rtp.NewPacketizer(1200, 102, 0, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			sei := streamtest.StampSEI(now)
			for i, l := range stageLayers {
				select {
				case <-pli[i]:
					if now.Sub(lastKey[i]) > 300*time.Millisecond {
						next[i] = 0 // the clip's first frame is a keyframe
					}
				default:
				}
				c := clips[i]
				n := next[i] % len(c)
				if n%30 == 0 {
					lastKey[i] = now
				}
				next[i] = n + 1
				var au []byte
				for _, nalu := range append([][]byte{sei}, c[n]...) {
					au = append(append(au, 0, 0, 0, 1), nalu...)
				}
				at := uint32(now.Sub(t0) * 90000 / time.Second)
				pz[i].SkipSamples(at - clock[i])
				clock[i] = at
				for _, p := range pz[i].Packetize(au, 0) {
					_ = p.SetExtension(midID, []byte(mid))
					_ = p.SetExtension(ridID, []byte(l.rid))
					if err := tracks[i].WriteRTP(p); err != nil {
						return
					}
				}
			}
		}
	})
	return func() { cancel(); _ = pc.Close(); wg.Wait() }, nil
}

// stageSub is one subscriber: its events socket, its peer connection and
// what its video reader saw.
type stageSub struct {
	pc     *webrtc.PeerConnection
	joined time.Duration // token to the first complete keyframe
	err    error

	mu       sync.Mutex
	last     time.Time // the last video packet
	newest   time.Time // the newest frame's stamp
	maxGap   time.Duration
	delays   []time.Duration // stamp to arrival, per frame, in the window
	firstKey chan struct{}
}

// reset starts a new measured window.
func (s *stageSub) reset(now time.Time) {
	s.mu.Lock()
	s.maxGap, s.delays = 0, s.delays[:0]
	if !s.last.IsZero() {
		s.last = now
	}
	s.mu.Unlock()
}

// readVideo reads the subscriber's video until it ends: it stamps the
// delay of each frame's SEI and finds the first complete keyframe (its
// packets in sequence up to the marker), discarding everything else.
func (s *stageSub) readVideo(tr *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	var p rtp.Packet
	inKey, keySeq := false, uint16(0)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		if p.Unmarshal(buf[:n]) != nil || len(p.Payload) == 0 {
			continue
		}
		pl := p.Payload
		typ := pl[0] & 0x1f
		s.mu.Lock()
		if !s.last.IsZero() {
			s.maxGap = max(s.maxGap, now.Sub(s.last))
		}
		s.last = now
		if typ == 6 || (typ == 24 && len(pl) < 300) {
			if ts, ok := streamtest.ReadStamp(pl); ok {
				s.delays = append(s.delays, now.Sub(ts))
				s.newest = ts
			}
		}
		s.mu.Unlock()
		if s.firstKey == nil {
			continue
		}
		key := typ == 5 || (typ == 28 && len(pl) > 1 && pl[1]&0x80 != 0 && pl[1]&0x1f == 5) ||
			(typ == 24 && len(pl) > 3 && pl[3]&0x1f == 7)
		switch {
		case key && !inKey:
			inKey, keySeq = true, p.SequenceNumber
		case inKey && p.SequenceNumber != keySeq+1:
			inKey = false // a loss: wait for the next one
		case inKey:
			keySeq = p.SequenceNumber
		}
		if inKey && p.Marker {
			close(s.firstKey)
			s.firstKey = nil
		}
	}
}

func startStageSub(ctx context.Context, api *webrtc.API, events, whip, stageID, pubID string, tok stageToken, low bool,
	pings *sync.WaitGroup) *stageSub {
	s := &stageSub{firstKey: make(chan struct{})}
	fk := s.firstKey
	t0 := time.Now()
	if _, err := joinStage(ctx, events, stageID, tok.Token, pings); err != nil {
		s.err = err
		return s
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		s.err = err
		return s
	}
	s.pc = pc
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		s.err = err
		return s
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			s.readVideo(tr)
		}
	})
	var hdr map[string]string
	if low {
		hdr = map[string]string{"X-Stages-Initial-Layer-Pref": "lowest"}
	}
	if err := negotiate(ctx, pc, whip+"/subscribe/"+pubID, tok.Token, hdr); err != nil {
		s.err = err
		return s
	}
	select {
	case <-fk:
		s.joined = time.Since(t0)
	case <-time.After(20 * time.Second):
		s.err = errors.New("no keyframe in 20 s")
	case <-ctx.Done():
		s.err = ctx.Err()
	}
	return s
}

// stageFanout ramps subscribers of one simulcast publisher until a target
// breaks or the cap.
func stageFanout(k kind, o options) ([]result, error) {
	s, err := k.onairOnly()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ctx, cancel := context.WithCancel(context.Background())
	var pings sync.WaitGroup
	defer pings.Wait()
	defer cancel()
	clips := make([][][][]byte, len(stageLayers))
	for i, l := range stageLayers {
		if clips[i], err = layerClip(l.size, l.kbps); err != nil {
			return nil, err
		}
	}
	api, err := stageAPI(false)
	if err != nil {
		return nil, err
	}
	var created struct {
		Stage struct {
			Arn string `json:"arn"`
		} `json:"stage"`
	}
	if err := s.signedPost(ctx, "CreateStage", map[string]any{"name": "bench"}, &created); err != nil {
		return nil, err
	}
	arn := created.Stage.Arn
	stageID := arn[strings.LastIndexByte(arn, '/')+1:]
	events, whip := "ws://"+s.addrs["http"]+"/stage/events", s.endpoint+"/stage/whip"
	floor, err := pionFloor(ctx, api, clips[0])
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  pion to pion without onair: delay p50 %v p99 %v\n", quantile(floor, 0.5), quantile(floor, 0.99))
	ptok, err := s.stageToken(ctx, arn, "publisher")
	if err != nil {
		return nil, err
	}
	if _, err := joinStage(ctx, events, stageID, ptok.Token, &pings); err != nil {
		return nil, fmt.Errorf("publisher join: %w", err)
	}
	stopPub, err := stagePublish(ctx, api, whip, ptok, clips)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer stopPub()
	time.Sleep(3 * time.Second)
	m := startMeter(s.pid())
	time.Sleep(5 * time.Second)
	cpu0, rss0 := m.read()
	rs := []result{{Phase: "stage", Name: "server with the 720p simulcast publisher, no subscriber: CPU / RSS", Value: round(cpu0, 1),
		Unit: fmt.Sprintf("%% of a core / %.1f MiB", rss0)},
		{Phase: "stage", Name: "delay pion → pion without onair (the two stacks' share of the delay) p50 / p99",
			Value: round(msf(quantile(floor, 0.5)), 2), Unit: fmt.Sprintf("/ %.2f ms", msf(quantile(floor, 0.99)))}}

	var subs []*stageSub
	defer func() {
		for _, sb := range subs {
			if sb.pc != nil {
				_ = sb.pc.Close()
			}
		}
	}()
	type stepResult struct {
		n                      int
		cpu, rss, gen          float64
		d50, d99, j50, j99     time.Duration
		o50, o99               time.Duration // onair's own, from its histogram
		l50, l99               time.Duration // onair's read lag
		busy                   float64       // onair's readers busy, % of wall time (all layers)
		held, frozen, behindPc float64
	}
	var best *stepResult
	var failed string
	for _, n := range steps(50, o.maxStageSubs, func(n int) int {
		if n < 100 {
			return 100
		}
		return n + 100
	}) {
		// Join in parallel, 20 at a time, each with its own token.
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 20)
		fresh := make([]*stageSub, n-len(subs))
		for i := range fresh {
			tok, err := s.stageToken(ctx, arn, fmt.Sprintf("viewer%d", len(subs)+i))
			if err != nil {
				return nil, err
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				sb := startStageSub(ctx, api, events, whip, stageID, ptok.ParticipantID, tok, (len(subs)+i)%10 == 9, &pings)
				mu.Lock()
				fresh[i] = sb
				mu.Unlock()
			})
			progress(fmt.Sprintf("stage: joining %d", n), len(subs)+i+1, n)
		}
		wg.Wait()
		var joins []time.Duration
		var joinErr error
		for _, sb := range fresh {
			if sb.err != nil {
				joinErr = sb.err
			} else {
				joins = append(joins, sb.joined)
			}
		}
		subs = append(subs, fresh...)
		time.Sleep(2 * time.Second)
		now := time.Now()
		for _, sb := range subs {
			sb.reset(now)
		}
		m := startMeter(s.pid())
		g0 := self()
		c0, h0, lag0 := scrapeSFU(s.endpoint)
		busyFrom := time.Now()
		// Sample how far behind each subscriber's newest frame is, four
		// times a second.
		samples, behind := 0, 0
		end := time.Now().Add(stageWindow)
		for time.Now().Before(end) {
			time.Sleep(250 * time.Millisecond)
			at := time.Now()
			for _, sb := range subs {
				if sb.err != nil {
					continue
				}
				sb.mu.Lock()
				newest := sb.newest
				sb.mu.Unlock()
				samples++
				if at.Sub(newest) > stageBehind {
					behind++
				}
			}
		}
		cpu, rss := m.read()
		gen := 100 * (self() - g0).Seconds() / stageWindow.Seconds()
		now = time.Now()
		held, frozen := 0, 0
		var delays []time.Duration
		for _, sb := range subs {
			if sb.err != nil {
				continue
			}
			sb.mu.Lock()
			gap := max(sb.maxGap, now.Sub(sb.last))
			delays = append(delays, sb.delays...)
			got := len(sb.delays) > 0
			sb.mu.Unlock()
			if got {
				held++
			} else if sb.pc != nil {
				fmt.Fprintf(os.Stderr, "  a subscriber without video in the window: peer connection %s, last packet %v ago, joined in %v\n",
					sb.pc.ConnectionState(), now.Sub(sb.last).Round(time.Millisecond), sb.joined.Round(time.Millisecond))
			}
			if gap > stageFreeze || !got {
				frozen++
			}
		}
		counters, h1, lag1 := scrapeSFU(s.endpoint)
		for _, l := range counters {
			fmt.Fprintln(os.Stderr, "   ", l)
		}
		o50, o99 := h1.sub(h0).quantile(0.5), h1.sub(h0).quantile(0.99)
		l50, l99 := lag1.sub(lag0).quantile(0.5), lag1.sub(lag0).quantile(0.99)
		const busy = "onair_sfu_reader_busy_seconds_total"
		busyPc := 100 * (counter(counters, busy) - counter(c0, busy)) / time.Since(busyFrom).Seconds()
		slices.Sort(delays)
		slices.Sort(joins)
		st := stepResult{n: n, cpu: cpu, rss: rss, gen: gen, d50: quantile(delays, 0.5), d99: quantile(delays, 0.99), o50: o50, o99: o99, l50: l50, l99: l99, busy: busyPc,
			j50: quantile(joins, 0.5), j99: quantile(joins, 0.99), held: float64(held), frozen: float64(frozen)}
		if samples > 0 {
			st.behindPc = 100 * float64(behind) / float64(samples)
		}
		fmt.Fprintf(os.Stderr, "  %d subscribers: held %d, frozen %d, behind %.2f %%, onair's delay p50 %v p99 %v, "+
			"onair's read lag p50 %v p99 %v, onair's readers busy %.0f %%, pion → pion delay p50 %v p99 %v, join p50 %v p99 %v, "+
			"server CPU %.0f %% RSS %.0f MiB, load generator CPU %.0f %% (join error: %v)\n", n, held, frozen, st.behindPc, st.o50,
			st.o99, st.l50, st.l99, st.busy,
			st.d50, st.d99, st.j50, st.j99, cpu, rss, gen, joinErr)
		rs = append(rs, result{Phase: "stage", Name: fmt.Sprintf("%d subscribers: held / frozen / behind / onair's delay p50, p99 / "+
			"onair's read lag p50, p99 / onair's readers busy / pion → pion delay p50, p99 / join p50, p99 / server CPU, RSS / "+
			"load generator CPU", n), Value: float64(held), Unit: fmt.Sprintf("/ %d / %.2f %% / %.2f, %.2f ms / %.2f, %.2f ms / "+
			"%.0f %% / %.2f, %.2f ms / %d, %d ms / %.0f %%, %.0f MiB / %.0f %%", frozen, st.behindPc, msf(st.o50), msf(st.o99),
			msf(st.l50), msf(st.l99), st.busy, msf(st.d50),
			msf(st.d99), st.j50.Milliseconds(), st.j99.Milliseconds(), cpu, rss, gen)})
		// Held or frozen ends the ramp; a step with too many samples
		// behind does not count but the ramp goes on while it is under
		// 10 %: on a shared machine a step can fall behind for the load
		// of others' processes.
		switch {
		case held < n:
			failed = fmt.Sprintf("%d of %d held (%v)", held, n, joinErr)
		case frozen > 0:
			failed = fmt.Sprintf("%d of %d froze", frozen, n)
		case st.behindPc >= 10:
			failed = fmt.Sprintf("%.2f %% behind", st.behindPc)
		case st.behindPc < 1:
			best = &st
		}
		if failed != "" {
			break
		}
	}
	time.Sleep(o.hold)
	if failed != "" {
		rs = append(rs, result{Phase: "stage", Name: "the ramp stopped at", Value: 0, Unit: failed})
	}
	if best == nil {
		return append(rs, result{Phase: "stage", Name: "subscribers held (no freeze > 1 s, < 1 % behind > 500 ms)", Value: 0,
			Target: "≥ 300"}), nil
	}
	perCore := float64(best.n) / (best.cpu / 100)
	return append(rs,
		result{Phase: "stage", Name: "largest step held (no freeze > 1 s, < 1 % behind > 500 ms)", Value: float64(best.n), Target: "≥ 300"},
		result{Phase: "stage", Name: "forwarding delay RTP-in → RTP-out (onair's histogram: read → written) p50 / p99",
			Value: round(msf(best.o50), 2), Unit: fmt.Sprintf("/ %.2f ms (at %d)", msf(best.o99), best.n), Target: "≤ 2 / ≤ 10 ms"},
		result{Phase: "stage", Name: "onair's read lag (how late its readers take the publisher's packets, from RTP timestamps) p50 / p99",
			Value: round(msf(best.l50), 2), Unit: fmt.Sprintf("/ %.2f ms (at %d)", msf(best.l99), best.n)},
		result{Phase: "stage", Name: "delay publisher pion → subscriber pion (both stacks and the load generator in it) p50 / p99",
			Value: round(msf(best.d50), 2), Unit: fmt.Sprintf("/ %.2f ms (at %d)", msf(best.d99), best.n)},
		result{Phase: "stage", Name: "RSS per subscriber", Value: round((best.rss-rss0)/float64(best.n)*1.048576, 3),
			Unit: fmt.Sprintf("MB (at %d)", best.n), Target: "≤ 0.5 MB"},
		result{Phase: "stage", Name: "join (token → first complete keyframe) p50 / p99", Value: float64(best.j50.Milliseconds()),
			Unit: fmt.Sprintf("/ %d ms (at %d)", best.j99.Milliseconds(), best.n), Target: "≤ 1 s"},
		result{Phase: "stage", Name: "subscribers per core of onair CPU", Value: round(perCore, 0),
			Unit: fmt.Sprintf("(%d at %.0f %% of a core; load generator %.0f %%)", best.n, best.cpu, best.gen), Target: "LiveKit ~190"},
	), nil
}

// pionFloor sends the hi clip with the same stamps from one pion peer
// connection straight to another (no onair) for 6 s: the delay the two
// stacks add by themselves to what the subscribers measure.
func pionFloor(ctx context.Context, api *webrtc.API, clip [][][]byte) ([]time.Duration, error) {
	tx, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	rx, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer rx.Close()
	tr, err := webrtc.NewTrackLocalStaticRTP(stageCap, "video", "floor")
	if err != nil {
		return nil, err
	}
	if _, err := tx.AddTrack(tr); err != nil {
		return nil, err
	}
	sub := &stageSub{}
	rx.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { sub.readVideo(t) })
	offer, err := tx.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	g := webrtc.GatheringCompletePromise(tx)
	if err := tx.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-g
	if err := rx.SetRemoteDescription(*tx.LocalDescription()); err != nil {
		return nil, err
	}
	answer, err := rx.CreateAnswer(nil)
	if err != nil {
		return nil, err
	}
	g = webrtc.GatheringCompletePromise(rx)
	if err := rx.SetLocalDescription(answer); err != nil {
		return nil, err
	}
	<-g
	if err := tx.SetRemoteDescription(*rx.LocalDescription()); err != nil {
		return nil, err
	}
	pz := rtp.NewPacketizer(1200, 102, 0, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i := range 180 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		var au []byte
		for _, nalu := range append([][]byte{streamtest.StampSEI(time.Now())}, clip[i%len(clip)]...) {
			au = append(append(au, 0, 0, 0, 1), nalu...)
		}
		for _, p := range pz.Packetize(au, 90000/30) {
			if err := tr.WriteRTP(p); err != nil {
				return nil, err
			}
		}
	}
	sub.mu.Lock()
	d := slices.Clone(sub.delays)
	sub.mu.Unlock()
	if len(d) < 90 {
		return nil, fmt.Errorf("pion to pion: %d frames of 180 arrived", len(d))
	}
	slices.Sort(d)
	return d, nil
}

// histogram is a Prometheus histogram's cumulative bucket counts by upper
// bound (+Inf included).
type histogram map[float64]float64

// scrapeSFU reads onair's /metrics: the onair_sfu_ counters and gauges as
// lines, and the forwarding delay and read lag histograms.
func scrapeSFU(endpoint string) (lines []string, delay, lag histogram) {
	res, err := http.Get(endpoint + "/metrics")
	if err != nil {
		return nil, nil, nil
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	delay, lag = histogram{}, histogram{}
	for l := range strings.SplitSeq(string(b), "\n") {
		h, rest, ok := delay, "", false
		if rest, ok = strings.CutPrefix(l, `onair_sfu_forward_delay_seconds_bucket{le="`); !ok {
			h = lag
			rest, ok = strings.CutPrefix(l, `onair_sfu_read_lag_seconds_bucket{le="`)
		}
		if ok {
			le, count, ok := strings.Cut(rest, `"} `)
			if !ok {
				continue
			}
			bound, err1 := strconv.ParseFloat(le, 64)
			c, err2 := strconv.ParseFloat(count, 64)
			if err1 == nil && err2 == nil {
				h[bound] = c
			}
			continue
		}
		if strings.HasPrefix(l, "onair_sfu_") && !strings.HasPrefix(l, "onair_sfu_forward_delay_seconds") &&
			!strings.HasPrefix(l, "onair_sfu_read_lag_seconds") {
			lines = append(lines, l)
		}
	}
	return lines, delay, lag
}

// counter is the value of the line of lines that names it, 0 if none.
func counter(lines []string, name string) float64 {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// sub is h's counts minus those of an earlier scrape: the window's.
func (h histogram) sub(earlier histogram) histogram {
	out := histogram{}
	for b, c := range h {
		out[b] = c - earlier[b]
	}
	return out
}

// quantile estimates the q quantile, linear within its bucket as
// Prometheus's histogram_quantile does; the highest finite bound if it
// falls in +Inf.
func (h histogram) quantile(q float64) time.Duration {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 || h[bounds[len(bounds)-1]] <= 0 {
		return 0
	}
	rank := q * h[bounds[len(bounds)-1]]
	lo, below := 0.0, 0.0
	for _, b := range bounds {
		c := h[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return time.Duration(lo * float64(time.Second))
			}
			f := 1.0
			if c > below {
				f = (rank - below) / (c - below)
			}
			return time.Duration((lo + (b-lo)*f) * float64(time.Second))
		}
		lo, below = b, c
	}
	return time.Duration(lo * float64(time.Second))
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
