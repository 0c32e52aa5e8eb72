package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/bluenviron/gortmplib"
	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/test/e2e/harness"
)

// watch follows a live channel as its players do, over LL-HLS (the video
// media playlist, polled) and WHEP, and tells how long each went without
// new media, gap by gap.
type watch struct {
	whep *harness.WHEPViewer

	mu         sync.Mutex
	hlsChanges []time.Time // when the playlist was seen to change
	cancel     context.CancelFunc
	done       chan struct{}
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
				w.hlsChanges = append(w.hlsChanges, now)
				w.mu.Unlock()
				prev = res.Body
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	// Playing steadily: a second of WHEP frames and of LL-HLS parts.
	harness.Eventually(t, 30*time.Second, func() error {
		w.mu.Lock()
		changes := len(w.hlsChanges)
		w.mu.Unlock()
		if n := len(v.Frames()); n < 30 || changes < 5 {
			return fmt.Errorf("%d WHEP frames and %d LL-HLS playlist changes, want 30 and 5", n, changes)
		}
		return nil
	})
	return w
}

// gaps returns every interval without new media since from, the last one
// running to now: between LL-HLS playlist changes and between WHEP frames.
func (w *watch) gaps(from time.Time) (hls, whep []time.Duration) {
	intervals := func(at []time.Time) []time.Duration {
		var out []time.Duration
		last := from
		for _, a := range at {
			if a.Before(from) {
				continue
			}
			out = append(out, a.Sub(last))
			last = a
		}
		return append(out, time.Since(last))
	}
	w.mu.Lock()
	hls = intervals(w.hlsChanges)
	w.mu.Unlock()
	var frames []time.Time
	for _, f := range w.whep.Frames() {
		frames = append(frames, f.Arrived)
	}
	return hls, intervals(frames)
}

// stalls judges the gaps in new media over a whole run by their quantiles:
// a viewer stutters when many gaps are long (p95 over stallP95), and
// stalls when one outlasts its buffer and any pause a loaded machine
// makes (stallMax). It returns what it saw, and an error for either.
func stalls(name string, gaps []time.Duration) (string, error) {
	ms := func(q float64) time.Duration { return harness.Quantile(gaps, q).Round(time.Millisecond) }
	seen := fmt.Sprintf("%s: %d gaps, p50 %v, p95 %v, p99 %v, max %v", name, len(gaps), ms(0.5), ms(0.95), ms(0.99), ms(1))
	if harness.Quantile(gaps, 0.95) > stallP95 || harness.Quantile(gaps, 1) > stallMax {
		return seen, fmt.Errorf("%s: stalled; want p95 at most %v and no gap over %v", seen, stallP95, stallMax)
	}
	return seen, nil
}

// checkStalls fails t if either path of w stalled since from.
func checkStalls(t *testing.T, w *watch, from time.Time) {
	t.Helper()
	hls, whep := w.gaps(from)
	for _, g := range []struct {
		name string
		gaps []time.Duration
	}{{"LL-HLS playlist", hls}, {"WHEP frames", whep}} {
		seen, err := stalls(g.name, g.gaps)
		if err != nil {
			t.Error(err)
		} else {
			t.Log(seen)
		}
	}
}

func (w *watch) stop() {
	w.cancel()
	<-w.done
}

// sockets counts the open sockets of a process: the descriptors a flood
// could leak (files and pipes come and go with the thumbnailer's ffmpeg).
func sockets(t *testing.T, s *harness.Server) int {
	t.Helper()
	pid := s.PID()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The store's pool connections are not the clients': PostgreSQL's
	// pool grows with concurrent requests and keeps its connections.
	store := storeSockets(t, s)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") && !store[l] {
			n++
		}
	}
	return n
}

// storeSockets are the server's sockets to its PostgreSQL server, as
// readlink shows them ("socket:[inode]"), from /proc/PID/net/tcp.
func storeSockets(t *testing.T, s *harness.Server) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if s.PostgresURL == "" {
		return out
	}
	u, err := url.Parse(s.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, remPort, _ := strings.Cut(f[2], ":")
		if p, err := strconv.ParseInt(remPort, 16, 32); err == nil && int(p) == port {
			out["socket:["+f[9]+"]"] = true
		}
	}
	return out
}

// Most gaps in new media are a part's or a frame's time; one in twenty may
// be longer, up to a quarter of the 2 s a player's buffer hides (a loaded
// machine delays the publisher, the server or the test's own reader now
// and then: p99 reached 1.06 s with a 720p encoder under load); a gap
// longer than the buffer and any such pause is a stall.
const (
	stallP95 = 500 * time.Millisecond
	stallMax = 6 * time.Second
)

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

	settle()
	baseG, baseFD := s.Goroutines(t), sockets(t, s)
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
	t.Logf("%d of 1000 connections refused or closed in %v; the live channel's viewers meanwhile:",
		refused.Load(), flood.Round(time.Millisecond))
	checkStalls(t, w, start)
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
		g, f = s.Goroutines(t), sockets(t, s)
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
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("the server kept the connection open for 30 s")
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

// dialThin connects as a viewer on a thin link does: a small receive
// window and an Ethernet-sized MSS (on loopback's 64 KB segments the
// server's send buffer would grow to megabytes and swallow whole segments).
func dialThin(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, "tcp", addr)
}

// newestSegment returns the URL of the media playlist's newest complete
// segment.
func newestSegment(ctx context.Context, mediaURL string) (string, error) {
	m, _, err := harness.FetchMedia(ctx, mediaURL)
	if err != nil {
		return "", err
	}
	for i := len(m.Segments) - 1; i >= 0; i-- {
		if sg := m.Segments[i]; !sg.Gap && sg.URI != "" {
			return harness.Resolve(mediaURL, sg.URI), nil
		}
	}
	return "", fmt.Errorf("no segment yet")
}

// slowFetch GETs u over a thin connection and reads the body at rate
// bytes per second (rate 0: it never reads, as a viewer whose network
// vanished). It reports whether the whole body arrived.
func slowFetch(ctx context.Context, u string, rate int) (whole bool, err error) {
	pu, err := url.Parse(u)
	if err != nil {
		return false, err
	}
	conn, err := dialThin(ctx, pu.Host)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", pu.RequestURI(), pu.Host)
	if rate == 0 {
		<-ctx.Done()
		return false, nil
	}
	br := bufio.NewReaderSize(conn, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	buf := make([]byte, rate/10)
	var n int64
	for {
		m, err := io.ReadFull(res.Body, buf)
		n += int64(m)
		if err == io.EOF || err == io.ErrUnexpectedEOF && n == res.ContentLength {
			return n == res.ContentLength, nil
		}
		if err != nil {
			return false, nil // cut off
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// heapInUse is the server's Go heap in use, in bytes.
func heapInUse(t *testing.T, s *harness.Server) float64 {
	t.Helper()
	v, err := s.Metric("go_memstats_heap_inuse_bytes")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Viewers that read a 3 Mbps channel at a tenth of its bitrate, viewers
// that stop reading, WebRTC viewers whose network vanishes and one whose
// ICE-TCP link stops reading are all dropped, with the server's memory
// bounded, while the channel's other LL-HLS and WHEP viewers see no stall.
func TestSlowViewers(t *testing.T) {
	// Not parallel: the stall bound is about this server's load.
	harness.Heavy(t) // a 720p encoder
	// Its limits not enforced: the 3 Mbps publisher is near BASIC's 3.5,
	// and a loaded machine's encoder catching up goes over it for a while.
	s := harness.Start(t, harness.Options{Args: []string{"--enforce-limits=false"}})
	c := s.IVS()
	ch, key := createChannel(t, c, "slow-viewers", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	// 3 Mbps (BASIC's limit is 3.5) with keyframes every 3 s: 1.1 MB
	// segments, more than loopback's autotuned socket buffers swallow (on
	// a real path they stay near the link's bandwidth-delay product).
	const bitrate = 3_000_000
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "1280x720",
		GOP: 90, VideoBitrate: "3000k", CBR: true, Audio: true})
	waitLive(t, c, aws.ToString(ch.Arn))
	w := startWatch(t, s, ch)
	mv, _ := waitMultivariant(t, aws.ToString(ch.PlaybackUrl))
	media := harness.Resolve(aws.ToString(ch.PlaybackUrl), mv.Variants[0].URI)
	settle()
	baseHeap, baseG := heapInUse(t, s), s.Goroutines(t)
	start := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var slowWG, stuckWG sync.WaitGroup
	var whole, cut atomic.Int64
	const slow, stuck = 20, 20
	for range slow {
		slowWG.Add(1)
		go func() { // a player on a link a tenth of the stream's bitrate
			defer slowWG.Done()
			for ctx.Err() == nil {
				u, err := newestSegment(ctx, media)
				if err != nil {
					continue
				}
				if ok, err := slowFetch(ctx, u, bitrate/8/10); err == nil {
					if ok {
						whole.Add(1)
					} else {
						cut.Add(1)
					}
					return
				}
			}
		}()
	}
	// Stuck viewers ask for a segment, then their network goes quiet; they
	// hold their sockets until the slow ones are done.
	stuckCtx, unstick := context.WithCancel(ctx)
	defer unstick()
	for range stuck {
		stuckWG.Add(1)
		go func() {
			defer stuckWG.Done()
			if u, err := newestSegment(ctx, media); err == nil {
				_, _ = slowFetch(stuckCtx, u, 0)
			}
		}()
	}

	// WebRTC: viewers whose UDP socket goes away without a word, and one
	// over ICE-TCP whose link stops carrying anything.
	whepURL := s.Endpoint() + "/whep/" + idOf(ch)
	var gone []net.PacketConn
	for range 5 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		v, err := harness.WatchWHEPWith(ctx, whepURL, harness.WatchOptions{UDP: pc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		gone = append(gone, pc)
	}
	px := startProxy(t, s.Addrs["webrtc-tcp"])
	tv, err := harness.WatchWHEPWith(ctx, whepURL, harness.WatchOptions{TCPOnly: true, Answer: func(sdp string) string {
		return strings.ReplaceAll(sdp, portOf(s.Addrs["webrtc-tcp"])+" typ host tcptype passive", portOf(px.addr())+" typ host tcptype passive")
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tv.Close)
	harness.Eventually(t, 15*time.Second, func() error {
		if n := len(tv.Frames()); n < 10 {
			return fmt.Errorf("ICE-TCP viewer: %d frames", n)
		}
		return nil
	})
	if n, err := viewerCount(t, c, ch.Arn); err != nil || n < 6 {
		t.Fatalf("viewerCount %d, %v; want the 6 WebRTC viewers and more", n, err)
	}
	for _, pc := range gone {
		pc.Close()
	}
	px.pause()

	// The server drops the WebRTC viewers (ICE consent fails in 8 s; the
	// ICE-TCP one sooner, once 1 MiB is queued for it).
	harness.Eventually(t, 20*time.Second, func() error {
		if n := strings.Count(s.Logs(), `msg="viewer left"`); n < 6 {
			return fmt.Errorf("%d WebRTC viewers dropped, want 6", n)
		}
		return nil
	})
	slowWG.Wait()
	peakHeap := heapInUse(t, s)
	unstick()
	stuckWG.Wait()

	dropped, err := s.Metric("onair_hls_slow_viewers_dropped_total")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d slow HLS responses cut off, %d completed; %v responses dropped by the server; heap %.1f MB → %.1f MB; "+
		"the other viewers meanwhile:", cut.Load(), whole.Load(), dropped, baseHeap/1e6, peakHeap/1e6)
	checkStalls(t, w, start)
	if cut.Load() != slow {
		t.Errorf("slow viewers: %d responses cut off, %d completed; want all %d cut off", cut.Load(), whole.Load(), slow)
	}
	if dropped < slow+stuck {
		t.Errorf("onair_hls_slow_viewers_dropped_total = %v, want at least %d", dropped, slow+stuck)
	}
	if peakHeap-baseHeap > 64e6 {
		t.Errorf("heap grew by %.0f MB with 46 slow viewers", (peakHeap-baseHeap)/1e6)
	}
	select {
	case <-pub.Done():
		t.Fatalf("the publisher was cut off: %v", pub.Err())
	default:
	}
	settle()
	s.WaitGoroutines(t, baseG+5, 20*time.Second)
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// proxy forwards TCP connections to a target until paused; then it stops
// reading either side, as a link that went dead without a reset.
type proxy struct {
	ln     net.Listener
	target string
	paused chan struct{}
	once   sync.Once
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, paused: make(chan struct{})}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			go p.pipe(in, out)
			go p.pipe(out, in)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) pause() { p.once.Do(func() { close(p.paused) }) }

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		select {
		case <-p.paused:
			return // neither reads nor closes: the peer's window shuts
		default:
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
