package transcode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// clip720 is 10 s of 1280x720 at 30 fps, 2.5 Mbps, a keyframe every 2 s,
// as an MPEG-TS file (for ffmpeg) and as access units (for the hub).
func clip720(b *testing.B) (file string, aus [][][]byte) {
	b.Helper()
	file = filepath.Join(b.TempDir(), "720p.ts")
	streamtest.FFmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10",
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k",
		"-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
		"-bsf:v", "h264_metadata=aud=insert", "-f", "mpegts", "-y", file)
	raw := streamtest.FFmpeg(b, "-i", file, "-c:v", "copy", "-f", "h264", "pipe:1")
	return file, splitAUs(raw)
}

// usage runs cmds at once and reports wall time, CPU time and the sum of
// their peak RSS.
func usage(b *testing.B, cmds []*exec.Cmd) (wall, cpu time.Duration, rssMiB float64) {
	b.Helper()
	start := time.Now()
	for _, c := range cmds {
		c.Stderr = &strings.Builder{}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			b.Fatalf("%v: %s", err, c.Stderr)
		}
		cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
		rssMiB += float64(c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	}
	return time.Since(start), cpu, rssMiB
}

// BenchmarkLadderCost transcodes 10 s of 720p30 2.5 Mbps to 480p, 360p and
// 160p as fast as the machine can, with onair's one ffmpeg for the ladder
// and with the naive design (one ffmpeg per rendition, each decoding the
// input), in the same run.
func BenchmarkLadderCost(b *testing.B) {
	file, _ := clip720(b)
	bin, _ := ffmpeg.Path()
	rungs := ladderFor(standardRungs, 1280, 720, 30)
	const media = 10.0
	fileArgs := func(args []string) []string {
		out := append([]string{"-y"}, args...)
		for i, a := range out {
			switch a {
			case "pipe:0":
				out[i] = file
			case "pipe:1":
				out[i] = os.DevNull
			}
		}
		// Reading a file: no low-delay probing limits.
		if i := slices.Index(out, "-probesize"); i >= 0 {
			out = slices.Delete(out, i, i+2)
		}
		return out
	}
	for range b.N {
		one := exec.Command(bin, fileArgs(ladderArgs(rungs, 30))...)
		wall, cpu, rss := usage(b, []*exec.Cmd{one})
		b.ReportMetric(media/wall.Seconds(), "ladder-speed-x")
		b.ReportMetric(cpu.Seconds()/media, "ladder-cores")
		b.ReportMetric(rss, "ladder-rss-MiB")

		var naive []*exec.Cmd
		for _, r := range rungs {
			naive = append(naive, exec.Command(bin, fileArgs(ladderArgs([]Rung{r}, 30))...))
		}
		wall, cpu, rss = usage(b, naive)
		b.ReportMetric(media/wall.Seconds(), "naive-speed-x")
		b.ReportMetric(cpu.Seconds()/media, "naive-cores")
		b.ReportMetric(rss, "naive-rss-MiB")
	}
}

type captureRenditions struct {
	mu   sync.Mutex
	hubs map[string]*stream.Hub
}

func (c *captureRenditions) AddRendition(_ *live.Stream, name string, hub *stream.Hub) func() {
	c.mu.Lock()
	c.hubs[name] = hub
	c.mu.Unlock()
	return func() {}
}

// BenchmarkLadderDelay feeds a 720p30 stream into a hub at real time for
// 10 s and reports how much later each rendition's frame of a media time
// reaches the rendition's hub than the source frame reached the source's.
func BenchmarkLadderDelay(b *testing.B) {
	_, aus := clip720(b)
	for range b.N {
		cr := &captureRenditions{hubs: map[string]*stream.Hub{}}
		l := NewLadders(LadderConfig{Renditions: cr, Log: streamtest.Log()})
		v := &stream.Track{Codec: &stream.H264{SPS: aus[0][0], PPS: aus[0][1]}, ClockRate: 90000}
		hub := stream.NewHub([]*stream.Track{v})
		st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", Type: ivs.TypeStandard}, StreamID: "st-1", Hub: hub}
		detach, err := l.Attach(st)
		if err != nil {
			b.Fatal(err)
		}

		var mu sync.Mutex
		sent := map[time.Duration]time.Time{}
		delays := map[string][]time.Duration{}
		watched := map[string]bool{}
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		watch := func(name string, h *stream.Hub) {
			r := h.NewReader(1024)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				for {
					u, err := r.Read(ctx)
					if err != nil {
						return
					}
					now := time.Now()
					mu.Lock()
					if s, ok := sent[u.PTS]; ok && u.Track.Codec.IsVideo() {
						delays[name] = append(delays[name], now.Sub(s))
					}
					mu.Unlock()
				}
			}()
		}
		start := time.Now()
		for i := range 300 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / 30)))
			d := time.Duration(i) * time.Second / 30
			mu.Lock()
			sent[d] = time.Now()
			mu.Unlock()
			au := aus[i%len(aus)]
			hub.Write(&stream.Unit{Track: v, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
			cr.mu.Lock()
			for name, h := range cr.hubs {
				if !watched[name] {
					watched[name] = true
					watch(name, h)
				}
			}
			cr.mu.Unlock()
		}
		time.Sleep(time.Second)
		cancel()
		hub.Close()
		detach()
		wg.Wait()
		var all []time.Duration
		var names []string
		for name, ds := range delays {
			all = append(all, ds...)
			names = append(names, fmt.Sprintf("%s:%d", name, len(ds)))
		}
		if len(all) == 0 {
			b.Fatal("no rendition frames")
		}
		slices.Sort(all)
		b.Logf("frames per rendition: %s", strings.Join(names, " "))
		b.ReportMetric(float64(all[len(all)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(all[len(all)*95/100].Milliseconds()), "p95-ms")
		b.ReportMetric(float64(all[len(all)-1].Milliseconds()), "max-ms")
	}
}
