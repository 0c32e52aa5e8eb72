// Command bench measures a running onair end to end, from outside, the way
// clients see it: idle footprint, control-plane throughput, and LL-HLS
// latency from an RTMP publisher's socket to a player following preload
// hints. `make bench` runs it against a fresh onair and appends the
// results to docs/benchmarks.md.
//
//	go run ./bench -onair bin/onair -phases idle,api,latency -append docs/benchmarks.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// result is one measured figure.
type result struct {
	Phase  string  `json:"phase"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
}

func main() {
	bin := flag.String("onair", "bin/onair", "the onair binary to start")
	phases := flag.String("phases", "idle,api,latency", "phases to run: idle, api, latency")
	span := flag.Duration("latency-span", 30*time.Second, "how long the latency phase measures (after 3 s of warm-up)")
	appendTo := flag.String("append", "", "append the results as a section of this markdown file")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	flag.Parse()

	srv, err := startOnair(*bin)
	if err != nil {
		fail(err)
	}
	defer srv.stop()
	var results []result
	for _, p := range strings.Split(*phases, ",") {
		fmt.Fprintf(os.Stderr, "== %s\n", p)
		var rs []result
		switch p {
		case "idle":
			rs, err = idle(srv)
		case "api":
			rs, err = api(srv)
		case "latency":
			rs, err = latency(srv, *span)
		default:
			err = fmt.Errorf("unknown phase %q", p)
		}
		if err != nil {
			fail(fmt.Errorf("%s: %w", p, err))
		}
		results = append(results, rs...)
	}
	table := render(results)
	fmt.Print(table)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fail(err)
		}
	}
	if *appendTo != "" {
		f, err := os.OpenFile(*appendTo, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			fail(err)
		}
		commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
		fmt.Fprintf(f, "\n## `make bench`: %s, commit %s, %s\n\n%s", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
			strings.TrimSpace(string(commit)), machine(), table)
		f.Close()
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d × %s, %s", runtime.NumCPU(), model, runtime.Version())
}

func render(rs []result) string {
	var b strings.Builder
	b.WriteString("| phase | measure | value | target |\n|---|---|---:|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s |\n", r.Phase, r.Name, strconv.FormatFloat(r.Value, 'f', -1, 64), r.Unit, r.Target)
	}
	return b.String()
}

// onair is a running server.
type onair struct {
	cmd      *exec.Cmd
	dir      string
	addrs    map[string]string
	akid     string
	secret   string
	endpoint string
}

func startOnair(bin string) (*onair, error) {
	dir, err := os.MkdirTemp("", "onair-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0",
		"--rtmps-addr", "127.0.0.1:0", "--srt-addr", "127.0.0.1:0", "--webrtc-udp-addr", "127.0.0.1:0",
		"--webrtc-tcp-addr", "127.0.0.1:0", "--log-level", "warn")
	// Not our stderr: the server must not hold the caller's pipe open.
	logf, err := os.Create(filepath.Join(dir, "onair.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &onair{cmd: cmd, dir: dir}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "listeners.json"))
		if err == nil && json.Unmarshal(b, &s.addrs) == nil && s.addrs["http"] != "" {
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("onair did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.endpoint = "http://" + s.addrs["http"]
	creds, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		s.stop()
		return nil, err
	}
	for _, l := range strings.Split(string(creds), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			s.akid = strings.TrimSpace(v)
		case "aws_secret_access_key":
			s.secret = strings.TrimSpace(v)
		}
	}
	return s, nil
}

func (s *onair) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
}

func (s *onair) client() *ivs.Client {
	return ivs.New(ivs.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(s.akid, s.secret, "")})
}

// usage reads the process's resident memory and CPU time.
func (s *onair) usage() (rssMiB float64, cpu time.Duration) {
	pid := s.cmd.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				rssMiB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return rssMiB, cpu
}

func idle(s *onair) ([]result, error) {
	time.Sleep(5 * time.Second)
	_, c0 := s.usage()
	time.Sleep(5 * time.Second)
	rss, c1 := s.usage()
	return []result{
		{"idle", "RSS", round(rss, 1), "MiB", "≤ 30 MB"},
		{"idle", "CPU", round(100*(c1-c0).Seconds()/5, 2), "% of a core", ""},
	}, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds())/1000, 2) }

func round(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return f
}

func api(s *onair) ([]result, error) {
	ctx := context.Background()
	c := s.client()
	var creates []time.Duration
	var arn *string
	for i := range 200 {
		t0 := time.Now()
		out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String(fmt.Sprintf("bench-%d", i)),
			Type: types.ChannelTypeBasicChannelType})
		if err != nil {
			return nil, err
		}
		creates = append(creates, time.Since(t0))
		arn = out.Channel.Arn
	}
	// GetStream of an offline channel: a signed request the SDK retries
	// not, answered ChannelNotBroadcasting by the service.
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	end := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				_, err := c.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: arn})
				var nb *types.ChannelNotBroadcasting
				if err != nil && !errors.As(err, &nb) {
					continue
				}
				mine = append(mine, time.Since(t0))
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return []result{
		{"api", "CreateChannel p50", ms(percentile(creates, 0.5)), "ms", ""},
		{"api", "CreateChannel p99", ms(percentile(creates, 0.99)), "ms", "≤ 20 ms"},
		{"api", "GetStream (signed, 16 clients)", round(float64(n.Load())/5, 0), "requests/s", "≥ 5,000"},
		{"api", "GetStream p99", ms(percentile(lat, 0.99)), "ms", ""},
	}, nil
}

// seiUUID marks the SEI in which the publisher stamps each frame's send
// time (16 hex digits of Unix nanoseconds, no zero bytes).
var seiUUID = []byte("onair-bench-sei1")

func stamp(t time.Time) []byte {
	p := append(append([]byte{}, seiUUID...), fmt.Sprintf("%016x", t.UnixNano())...)
	return append(append([]byte{6, 5, byte(len(p))}, p...), 0x80)
}

// clip encodes 4 s of 640x360 at 30 fps, 800 kbps, a keyframe a second,
// with ffmpeg.
func clip() (sps, pps []byte, aus [][][]byte, err error) {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p",
		"-b:v", "800k", "-maxrate", "800k", "-bufsize", "800k", // within BASIC's 1.5 Mbps
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1").Output()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ffmpeg: %w", err)
	}
	var cur [][]byte
	for _, n := range streamtest.SplitAnnexB(out) {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			if cur != nil {
				aus = append(aus, cur)
			}
			cur = [][]byte{}
			continue
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
		cur = append(cur, n)
	}
	return sps, pps, append(aus, cur), nil
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", u, res.StatusCode)
	}
	return b, err
}

// latency publishes a stamped 30 fps stream over RTMP and follows it as an
// LL-HLS player does: each frame's latency is from its send on the RTMP
// socket to the end of the download of the preload-hinted part holding it.
func latency(s *onair, span time.Duration) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), span+30*time.Second)
	defer cancel()
	c := s.client()
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Type: types.ChannelTypeBasicChannelType,
		LatencyMode: types.ChannelLatencyModeLowLatency})
	if err != nil {
		return nil, err
	}
	sps, pps, aus, err := clip()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse("rtmp://" + s.addrs["rtmp"] + "/app")
	u.Fragment = aws.ToString(out.StreamKey.Value)
	rc := &gortmplib.Client{URL: u, Publish: true}
	if err := rc.Initialize(ctx); err != nil {
		return nil, err
	}
	defer rc.Close()
	vt := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: sps, PPS: pps}}
	w := &gortmplib.Writer{Conn: rc, Tracks: []*gortmplib.Track{vt}}
	if err := w.Initialize(); err != nil {
		return nil, err
	}
	go func() {
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for i := 0; ; i++ {
			au := aus[i%len(aus)]
			d := time.Duration(i) * time.Second / 30
			if err := w.WriteH264(vt, d, d, append([][]byte{stamp(time.Now())}, au...)); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// The player: multivariant, then its media playlist.
	mvURL := aws.ToString(out.Channel.PlaybackUrl)
	var media string
	for media == "" {
		if ctx.Err() != nil {
			return nil, errors.New("the stream never played")
		}
		b, err := get(ctx, mvURL)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var mv playlist.Multivariant
		if err := mv.Unmarshal(b); err != nil || len(mv.Variants) == 0 {
			return nil, fmt.Errorf("multivariant: %v", err)
		}
		ref, _ := url.Parse(mvURL)
		mu, _ := ref.Parse(mv.Variants[0].URI)
		media = mu.String()
	}
	mediaURL, _ := url.Parse(media)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < 3*time.Second+span {
		b, err := get(ctx, media)
		if err != nil {
			return nil, err
		}
		var pl playlist.Media
		if err := pl.Unmarshal(b); err != nil || pl.PreloadHint == nil {
			return nil, fmt.Errorf("media playlist: %v", err)
		}
		hint, _ := mediaURL.Parse(pl.PreloadHint.URI)
		data, err := get(ctx, hint.String())
		if err != nil {
			return nil, err
		}
		got := time.Now()
		if time.Since(start) < 3*time.Second {
			continue
		}
		for i := 0; ; {
			j := bytes.Index(data[i:], seiUUID)
			if j < 0 || i+j+len(seiUUID)+16 > len(data) {
				break
			}
			i += j + len(seiUUID)
			if ns, err := strconv.ParseInt(string(data[i:i+16]), 16, 64); err == nil {
				lat = append(lat, got.Sub(time.Unix(0, ns)))
			}
		}
	}
	if len(lat) == 0 {
		return nil, errors.New("no stamped frame came back")
	}
	// Time to first frame: a new player, from its first request to the
	// bytes of an independent part.
	var ttff []time.Duration
	for range 10 {
		t0 := time.Now()
		b, err := get(ctx, media)
		if err != nil {
			return nil, err
		}
		var pl playlist.Media
		if err := pl.Unmarshal(b); err != nil {
			return nil, err
		}
		var uri string
		for _, p := range pl.Parts {
			if p.Independent {
				uri = p.URI
			}
		}
		if uri == "" {
			continue
		}
		pu, _ := mediaURL.Parse(uri)
		if _, err := get(ctx, pu.String()); err != nil {
			return nil, err
		}
		ttff = append(ttff, time.Since(t0))
		time.Sleep(300 * time.Millisecond)
	}
	rs := []result{
		{"latency", "LL-HLS frame latency p50 (RTMP send → part downloaded)", ms(percentile(lat, 0.5)), "ms", "≤ 100 ms"},
		{"latency", "LL-HLS frame latency p95", ms(percentile(lat, 0.95)), "ms", "≤ 180 ms"},
		{"latency", "LL-HLS frame latency max", ms(percentile(lat, 1)), "ms", ""},
		{"latency", "frames measured", float64(len(lat)), "", "≥ 30 s"},
	}
	if len(ttff) > 0 {
		rs = append(rs, result{"latency", "time to first frame p50 (media playlist + independent part)", ms(percentile(ttff, 0.5)), "ms", "≤ 300 ms"})
	}
	return rs, nil
}
