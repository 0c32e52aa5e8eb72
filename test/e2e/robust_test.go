package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/bluenviron/gortmplib"
	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/test/e2e/harness"
)

// watch follows a live channel as its players do, over LL-HLS (the video
// media playlist, polled) and WHEP, and tells the longest time either went
// without new media.
type watch struct {
	whep *harness.WHEPViewer

	mu      sync.Mutex
	hlsLast time.Time
	hlsGap  time.Duration
	cancel  context.CancelFunc
	done    chan struct{}
}

func startWatch(t *testing.T, s *harness.Server, ch *types.Channel) *watch {
	t.Helper()
	mv, _ := waitMultivariant(t, aws.ToString(ch.PlaybackUrl))
	media := harness.Resolve(aws.ToString(ch.PlaybackUrl), mv.Variants[0].URI)
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{cancel: cancel, done: make(chan struct{})}
	t.Cleanup(w.stop)
	v, err := harness.WatchWHEP(harness.Context(t, 10*time.Second), s.Endpoint()+"/whep/"+idOf(ch))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	w.whep = v
	go func() {
		defer close(w.done)
		var prev []byte
		for ctx.Err() == nil {
			res, err := harness.Fetch(ctx, media)
			now := time.Now()
			if err == nil && res.Status == http.StatusOK && !bytes.Equal(res.Body, prev) {
				w.mu.Lock()
				if !w.hlsLast.IsZero() && now.Sub(w.hlsLast) > w.hlsGap {
					w.hlsGap = now.Sub(w.hlsLast)
				}
				w.hlsLast = now
				w.mu.Unlock()
				prev = res.Body
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	harness.Eventually(t, 20*time.Second, func() error {
		if len(v.Frames()) < 30 {
			return fmt.Errorf("%d WHEP frames", len(v.Frames()))
		}
		return nil
	})
	return w
}

// reset forgets the gaps seen so far.
func (w *watch) reset() {
	w.mu.Lock()
	w.hlsGap = 0
	w.mu.Unlock()
}

// gaps returns the longest time without a playlist change and without a
// WHEP frame since from.
func (w *watch) gaps(from time.Time) (hls, whep time.Duration) {
	w.mu.Lock()
	hls = w.hlsGap
	if since := time.Since(w.hlsLast); since > hls {
		hls = since
	}
	w.mu.Unlock()
	last := from
	for _, f := range w.whep.Frames() {
		if f.Arrived.Before(from) {
			continue
		}
		if d := f.Arrived.Sub(last); d > whep {
			whep = d
		}
		last = f.Arrived
	}
	if d := time.Since(last); d > whep {
		whep = d
	}
	return hls, whep
}

func (w *watch) stop() {
	w.cancel()
	<-w.done
}

// sockets counts the open sockets of a process: the descriptors a flood
// could leak (files and pipes come and go with the thumbnailer's ffmpeg).
func sockets(t *testing.T, pid int) int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// stallLimit is what a player's buffer hides: a longer gap in new media
// is a stall a viewer sees.
const stallLimit = 2 * time.Second

// A thousand hostile connections (garbage bytes, unknown keys, idle
// sockets, a second publisher's garbage offer) on RTMP, SRT and WHIP at
// once: the live channel's LL-HLS and WHEP viewers see no stall, every
// connection is refused or timed out, and the server's sockets and
// goroutines return to where they were.
func TestFlood(t *testing.T) {
	// Not parallel: the stall bound is about this server's load, not the
	// other tests'.
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "flooded", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Audio: true})
	waitLive(t, c, aws.ToString(ch.Arn))
	w := startWatch(t, s, ch)

	time.Sleep(2 * time.Second)
	settle()
	baseG, baseFD := s.Goroutines(t), sockets(t, s.PID())
	w.reset()
	start := time.Now()

	bogus := "sk_us-east-1_" + strings.Repeat("Z", 12) + "_" + strings.Repeat("q", 31)
	var refused atomic.Int64
	kinds := []struct {
		name string
		n    int
		// idle connections mostly wait for the server to time them out
		// (a partial handshake waits out its 10 s) and are not counted
		// against the flood's concurrency.
		idle bool
		run  func(ctx context.Context, i int) error // nil when refused as it should be
	}{
		{"rtmp garbage", 250, true, func(ctx context.Context, i int) error {
			junk := make([]byte, 512+i*13%4096)
			_, _ = rand.Read(junk)
			if i%2 == 0 {
				junk[0] = 3 // a plausible C0, then noise
			}
			return sendAndExpectClose(ctx, "tcp", s.Addrs["rtmp"], junk)
		}},
		{"rtmp idle", 100, true, func(ctx context.Context, _ int) error {
			// A socket that never says anything is closed at the
			// handshake timeout (10 s).
			return sendAndExpectClose(ctx, "tcp", s.Addrs["rtmp"], nil)
		}},
		{"rtmp unknown key", 150, false, func(ctx context.Context, _ int) error {
			u, _ := url.Parse(s.RTMPURL(bogus))
			cl := &gortmplib.Client{URL: u, Publish: true}
			if err := cl.Initialize(ctx); err == nil {
				cl.Close()
				return fmt.Errorf("publish with an unknown key accepted")
			}
			return nil
		}},
		{"rtmps garbage", 50, true, func(ctx context.Context, _ int) error {
			return sendAndExpectClose(ctx, "tcp", s.Addrs["rtmps"], []byte("\x16\x03\x01\x02\x00garbage"))
		}},
		{"srt unknown key", 150, false, func(ctx context.Context, _ int) error {
			cfg := gosrt.DefaultConfig()
			cfg.StreamId = bogus
			cfg.ConnectionTimeout = 5 * time.Second
			conn, err := gosrt.Dial("srt", s.Addrs["srt"], cfg)
			if err == nil {
				conn.Close()
				return fmt.Errorf("SRT caller with an unknown key accepted")
			}
			return nil
		}},
		{"srt garbage", 50, false, func(ctx context.Context, i int) error {
			conn, err := net.Dial("udp", s.Addrs["srt"])
			if err != nil {
				return err
			}
			defer conn.Close()
			junk := make([]byte, 1316)
			for range 20 {
				_, _ = rand.Read(junk)
				if i%2 == 0 {
					junk[0] = 0x80 // a control packet's flag, then noise
				}
				_, _ = conn.Write(junk)
			}
			return nil
		}},
		{"whip unknown key", 150, false, func(ctx context.Context, _ int) error {
			return whipRefused(ctx, s, bogus, minimalOffer)
		}},
		{"whip no key", 50, false, func(ctx context.Context, _ int) error {
			return whipRefused(ctx, s, "", minimalOffer)
		}},
		{"whip garbage offer for the live channel", 50, false, func(ctx context.Context, i int) error {
			junk := make([]byte, 200+i*37%8000)
			_, _ = rand.Read(junk)
			return whipRefused(ctx, s, aws.ToString(key.Value), "v=0\r\n"+string(junk))
		}},
	}
	total := 0
	for _, k := range kinds {
		total += k.n
	}
	if total != 1000 {
		t.Fatalf("%d connections, want 1000", total)
	}
	ctx := harness.Context(t, 60*time.Second)
	sem := make(chan struct{}, 150)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	errs := map[string]int{}
	var firstErr = map[string]error{}
	for _, k := range kinds {
		for i := range k.n {
			wg.Add(1)
			if !k.idle {
				sem <- struct{}{}
			}
			go func() {
				defer wg.Done()
				if !k.idle {
					defer func() { <-sem }()
				}
				if err := k.run(ctx, i); err != nil {
					errMu.Lock()
					errs[k.name]++
					if firstErr[k.name] == nil {
						firstErr[k.name] = err
					}
					errMu.Unlock()
					return
				}
				refused.Add(1)
			}()
		}
	}
	wg.Wait()
	flood := time.Since(start)
	for name, n := range errs {
		t.Errorf("%s: %d of them not refused as they should be, e.g. %v", name, n, firstErr[name])
	}
	hlsGap, whepGap := w.gaps(start)
	t.Logf("%d of 1000 connections refused or closed in %v; longest gap in new media meanwhile: LL-HLS playlist %v, WHEP frames %v",
		refused.Load(), flood.Round(time.Millisecond), hlsGap.Round(time.Millisecond), whepGap.Round(time.Millisecond))
	if hlsGap > stallLimit || whepGap > stallLimit {
		t.Errorf("the live channel stalled during the flood: LL-HLS %v, WHEP %v", hlsGap, whepGap)
	}
	select {
	case <-pub.Done():
		t.Fatalf("the live publisher was cut off: %v", pub.Err())
	default:
	}
	waitLive(t, c, aws.ToString(ch.Arn))

	// Everything the flood opened is gone again.
	settle()
	var g, f int
	harness.Eventually(t, 30*time.Second, func() error {
		g, f = s.Goroutines(t), sockets(t, s.PID())
		if g > baseG+5 || f > baseFD+2 {
			return fmt.Errorf("%d goroutines (baseline %d), %d sockets (baseline %d)", g, baseG, f, baseFD)
		}
		return nil
	})
	t.Logf("after: %d goroutines (baseline %d), %d sockets (baseline %d)", g, baseG, f, baseFD)
}

// sendAndExpectClose writes junk (if any) and waits for the server to
// close the connection.
func sendAndExpectClose(ctx context.Context, network, addr string, junk []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if len(junk) > 0 {
		_, _ = conn.Write(junk) // the server may close before all of it is read
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("the server kept the connection open for 30 s")
	}
	return nil
}

// minimalOffer is a well-formed WHIP offer (H.264 and Opus, sendonly).
const minimalOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=rtcp-mux\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"

// whipRefused posts an offer and expects a 4xx refusal.
func whipRefused(ctx context.Context, s *harness.Server, key, sdp string) error {
	status, _, body, err := harness.PostSDP(ctx, s.Endpoint()+"/whip", key, sdp)
	if err != nil {
		return err
	}
	if status < 400 || status >= 500 {
		return fmt.Errorf("WHIP answered %d: %s", status, body)
	}
	return nil
}
