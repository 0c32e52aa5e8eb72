// Command bench measures onair end to end, from outside, the way clients
// see it, and measures a peer (any RTMP-in, HLS-out server) the same way in
// the same run: idle footprint, control-plane throughput, LL-HLS, HLS and
// WHEP latency from an RTMP publisher's socket, time to first frame, how
// many LL-HLS viewers of one stream stay at the live edge, what each RTMP
// publisher costs, and how many pion subscribers of one 720p simulcast
// stage publisher onair's SFU holds (the stage phase), and what a
// server-side composition of four 720p30 stage publishers into a 720p30
// channel costs and delays (the compose phase). `make bench` runs it
// against a fresh onair for each phase and appends the results to
// docs/benchmarks.md.
//
//	go run ./bench -onair bin/onair -append docs/benchmarks.md
//	go run ./bench -onair bin/onair -peer-name mediamtx \
//	    -peer-cmd "/path/mediamtx /path/bench.yml" \
//	    -peer-rtmp 'rtmp://127.0.0.1:1935/{name}' \
//	    -peer-hls 'http://127.0.0.1:8888/{name}/index.m3u8' \
//	    -peer-whep 'http://127.0.0.1:8889/{name}/whep'
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// result is one measured figure of one server.
type result struct {
	Server string  `json:"server"`
	Phase  string  `json:"phase"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	// Text, when set, is shown instead of Value: a figure that does not
	// apply to this server, whose row still sits in its place.
	Text string `json:"text,omitempty"`
}

// options are what the phases take from the command line.
type options struct {
	span          time.Duration
	maxViewers    int
	maxPublishers int
	hold          time.Duration // keep a ramp's last step up this long, to profile it
	apiSpan       time.Duration
	clip          *clip
	chatClients   int
	maxStageSubs  int
	metricsSpan   time.Duration
	metricsCounts []int // live streams of each metrics run
	edgeViewers   []int // players of each step of the edge phase
}

// storePhases are the phases that run once per store (-store); the others
// run on onair's default store, SQLite.
var storePhases = map[string]bool{"api": true, "metrics": true}

var phaseFuncs = map[string]func(kind, options) ([]result, error){
	"idle":       idle,
	"api":        api,
	"latency":    latencyLow,
	"normal":     latencyNormal,
	"whep":       latencyWHEP,
	"viewers":    viewers,
	"publishers": publishers,
	"chat":       chatFanout,
	"stage":      stageFanout,
	"compose":    composeBench,
	"metrics":    metricsWrites,
	"edge":       edgeBench,
}

func main() {
	bin := flag.String("onair", "bin/onair", "the onair binary to start; empty: measure the peer only")
	phases := flag.String("phases", "idle,api,metrics,latency,normal,whep,viewers,publishers,chat,stage,compose,edge", "phases to run, in order")
	stores := flag.String("store", "sqlite,postgres", "onair's stores: the api and metrics phases run once on each, the others on the first "+
		"(postgres: a private PostgreSQL server of Debian's programs, skipped if they are missing)")
	metricsSpan := flag.Duration("metrics-span", 30*time.Second, "how long each metrics run writes (after 2 s of warm-up)")
	metricsStreams := flag.String("metrics-streams", "300,1000", "live streams of the metrics phase's runs (300: the target; more: headroom)")
	span := flag.Duration("span", 30*time.Second, "how long each latency phase measures (after 3 s of warm-up)")
	maxViewers := flag.Int("max-viewers", 1000, "the viewer ramp's last step")
	edgeViewers := flag.String("edge-viewers", "20,200", "players of the edge phase's steps, spread over two edges")
	maxPublishers := flag.Int("max-publishers", 300, "the publisher ramp's last step")
	apiSpan := flag.Duration("api-span", 5*time.Second, "how long the api phase sends GetStream")
	chatClients := flag.Int("chat-clients", 5000, "clients of the chat phase's room")
	maxStageSubs := flag.Int("max-stage-subscribers", 500, "the stage phase's subscriber ramp's cap")
	hold := flag.Duration("hold", 0, "keep each ramp's last step running this long (to take a profile with -onair-pprof)")
	peerName := flag.String("peer-name", "peer", "the peer's name in the results")
	peerCmd := flag.String("peer-cmd", "", "command line that starts the peer (fields split on spaces)")
	peerRTMP := flag.String("peer-rtmp", "rtmp://127.0.0.1:1935/{name}", "the peer's RTMP publish URL; {name} is a stream name")
	peerHLS := flag.String("peer-hls", "http://127.0.0.1:8888/{name}/index.m3u8", "the peer's multivariant playlist URL")
	peerWHEP := flag.String("peer-whep", "", "the peer's WHEP URL, if it has one")
	flag.StringVar(&pprofAddr, "onair-pprof", "off", "have onair serve its profiler here (host:port), to profile a phase")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile here")
	appendTo := flag.String("append", "", "append the results as a section of this markdown file")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	flag.Parse()

	defer runCleanups()
	cleanupOnSignal()
	var kinds []kind
	if *bin != "" {
		for i, st := range strings.Split(*stores, ",") {
			if st != "sqlite" && st != "postgres" {
				fail(fmt.Errorf("unknown store %q: sqlite or postgres", st))
			}
			if i > 0 && st == kinds[0].store {
				continue
			}
			kinds = append(kinds, kind{name: "onair (" + st + ")", store: st, bin: *bin,
				start: func() (server, error) { return startOnair(*bin, st) }})
		}
	}
	if *peerCmd != "" {
		kinds = append(kinds, kind{name: *peerName, start: func() (server, error) {
			return startPeer(*peerCmd, *peerRTMP, *peerHLS, *peerWHEP)
		}})
	}
	counts, edgeCounts := countsFlag("metrics-streams", *metricsStreams), countsFlag("edge-viewers", *edgeViewers)
	if len(kinds) == 0 {
		fail(errors.New("nothing to measure: give -onair or -peer-cmd"))
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	c, err := loadClip("1280x720", 30, 2500)
	if err != nil {
		fail(err)
	}
	opts := options{span: *span, maxViewers: *maxViewers, maxPublishers: *maxPublishers, hold: *hold, apiSpan: *apiSpan, clip: c,
		chatClients: *chatClients, maxStageSubs: *maxStageSubs, metricsSpan: *metricsSpan, metricsCounts: counts,
		edgeViewers: edgeCounts}
	var results []result
	var notes []string
	pgSkipped := false
	for _, p := range strings.Split(*phases, ",") {
		fn, ok := phaseFuncs[p]
		if !ok {
			fail(fmt.Errorf("unknown phase %q", p))
		}
		// Servers take turns, each phase on a fresh process: neither
		// shares the machine with the other, nor with an earlier phase.
		for i, k := range kinds {
			// The first store's onair runs every phase; another store's
			// only those that measure the store.
			if k.store != "" && i > 0 && k.store != kinds[0].store && !storePhases[p] {
				continue
			}
			if k.store == "postgres" && pgSkipped {
				continue
			}
			fmt.Fprintf(os.Stderr, "== %s: %s\n", k.name, p)
			rs, err := fn(k, opts)
			if errors.Is(err, errUnsupported) {
				continue
			}
			if isNoPostgres(err) {
				fmt.Fprintf(os.Stderr, "bench: skipping the postgres runs: %v\n", err)
				notes = append(notes, fmt.Sprintf("PostgreSQL runs skipped: %v.", err))
				pgSkipped = true
				continue
			}
			if err != nil {
				fail(fmt.Errorf("%s %s: %w", k.name, p, err))
			}
			for i := range rs {
				rs[i].Server = k.name
			}
			results = append(results, rs...)
		}
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.name)
	}
	table := render(results, names)
	if postgresRan() {
		notes = append(notes, "PostgreSQL: a private server of "+postgresVersion()+" on loopback TCP, "+postgresSettings+
			"; onair's pool is its default (10 connections).")
	}
	if len(notes) > 0 {
		table += "\n" + strings.Join(notes, "\n") + "\n"
	}
	table += "\nLoad average at the end: " + loadavg() + "\n"
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

// countsFlag parses a flag's comma-separated counts.
func countsFlag(name, v string) []int {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fail(fmt.Errorf("-%s: %q is not a count", name, f))
		}
		out = append(out, n)
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	runCleanups()
	os.Exit(1)
}

// loadavg is the machine's load (1, 5, 15 min): others' work shares it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
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

// render makes a markdown table with a column per server, rows in the
// order they were first measured.
func render(rs []result, servers []string) string {
	type row struct {
		phase, name, target string
		vals                map[string]string
	}
	var rows []*row
	byKey := map[string]*row{}
	for _, r := range rs {
		k := r.Phase + "\x00" + r.Name
		rw := byKey[k]
		if rw == nil {
			rw = &row{phase: r.Phase, name: r.Name, vals: map[string]string{}}
			byKey[k] = rw
			rows = append(rows, rw)
		}
		if r.Target != "" {
			rw.target = r.Target
		}
		rw.vals[r.Server] = strings.TrimSpace(strconv.FormatFloat(r.Value, 'f', -1, 64) + " " + r.Unit)
		if r.Text != "" {
			rw.vals[r.Server] = r.Text
		}
	}
	var b strings.Builder
	b.WriteString("| phase | measure |")
	for _, s := range servers {
		b.WriteString(" " + s + " |")
	}
	b.WriteString(" target |\n|---|---|")
	for range servers {
		b.WriteString("---:|")
	}
	b.WriteString("---|\n")
	for _, rw := range rows {
		fmt.Fprintf(&b, "| %s | %s |", rw.phase, rw.name)
		for _, s := range servers {
			v := rw.vals[s]
			if v == "" {
				v = "—"
			}
			b.WriteString(" " + v + " |")
		}
		b.WriteString(" " + rw.target + " |\n")
	}
	return b.String()
}

// progress draws a bar on stderr for a long phase, again only when it
// changes.
func progress(label string, done, total int) {
	const width = 30
	n := 0
	if total > 0 {
		n = min(width, done*width/total)
	}
	key := fmt.Sprintf("%s %d %t", label, n, done >= total)
	if key == lastProgress {
		return
	}
	lastProgress = key
	fmt.Fprintf(os.Stderr, "\r%-28s [%s%s] %d/%d", label, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	if done >= total {
		fmt.Fprintln(os.Stderr)
	}
}

var lastProgress string
