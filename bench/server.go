package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/aws-sdk-go-v2/service/ivschat"
)

// channel is where one stream is published and played.
type channel struct {
	publish *url.URL // RTMP; gortmplib takes a stream key in the fragment
	play    string   // HLS multivariant playlist
	whep    string   // WHEP endpoint, empty if the server has none
}

// errUnsupported marks a phase a server cannot run (a peer has no IVS API,
// nor NORMAL channels beside LL-HLS ones).
var errUnsupported = errors.New("not supported by this server")

// server is one running server under measurement.
type server interface {
	// channel makes the i-th channel of a phase: low is a LOW latency
	// (LL-HLS) channel, else NORMAL (HLS).
	channel(ctx context.Context, i int, low bool) (channel, error)
	// pid is the server's process; its children count as its own.
	pid() int
	stop()
}

// kind is a way to start a fresh server for each phase.
type kind struct {
	name  string
	start func() (server, error)
	// store is onair's store ("sqlite", "postgres"); empty for a peer.
	store string
	// bin is onair's binary; empty for a peer.
	bin string
}

// onairOnly starts k's server for a phase only onair serves (IVS Chat,
// Stages): a peer server is not started at all.
func (k kind) onairOnly() (*onair, error) {
	if k.store == "" {
		return nil, errUnsupported
	}
	srv, err := k.start()
	if err != nil {
		return nil, err
	}
	s, ok := srv.(*onair)
	if !ok {
		srv.stop()
		return nil, errUnsupported
	}
	return s, nil
}

// proc is a started server process, in its own process group so that stop
// ends its children (ffmpeg) too.
type proc struct {
	cmd *exec.Cmd
	dir string
}

func startProc(dir string, args ...string) (*proc, error) {
	cmd := exec.Command(args[0], args[1:]...)
	// Not our stderr: the server must not hold the caller's pipe open.
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &proc{cmd: cmd, dir: dir}, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	os.RemoveAll(p.dir)
}

// onair is onair started from its binary with a temp data dir.
type onair struct {
	*proc
	addrs    map[string]string
	endpoint string
	client   *ivs.Client
	chat     *ivschat.Client
	creds    aws.CredentialsProvider // signs the Stages API, which has no client in go.mod
	storePID int                     // the PostgreSQL server onair uses (its backends are its children); 0 for SQLite
}

// pprofAddr is where a benchmarked onair serves its profiler
// (-onair-pprof), off by default.
var pprofAddr = "off"

// startOnair starts onair on store: "sqlite" (in its data dir) or
// "postgres" (a new database on the bench's PostgreSQL).
func startOnair(bin, store string) (server, error) {
	var storeArgs []string
	var storePID int
	if store == "postgres" {
		u, pid, err := postgresDB()
		if err != nil {
			return nil, err
		}
		storeArgs, storePID = []string{"--store", "postgres", "--postgres-url", u}, pid
	}
	return startOnairWith(bin, storePID, storeArgs...)
}

// startOnairWith starts onair with extra flags (its store's, a cluster's);
// storePID is its PostgreSQL server's, 0 for none.
func startOnairWith(bin string, storePID int, extra ...string) (*onair, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	storeArgs := extra
	dir, err := os.MkdirTemp("", "onair-bench-")
	if err != nil {
		return nil, err
	}
	args := append([]string{bin, "serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0",
		"--rtmps-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--srt-addr", "127.0.0.1:0", "--webrtc-udp-addr", "127.0.0.1:0",
		"--webrtc-tcp-addr", "127.0.0.1:0", "--log-level", "warn", "--pprof-addr", pprofAddr,
		// The API phase measures throughput from one address.
		"--api-rate-limit", "0"}, storeArgs...)
	p, err := startProc(dir, args...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &onair{proc: p, storePID: storePID}
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
		time.Sleep(20 * time.Millisecond)
	}
	s.endpoint = "http://" + s.addrs["http"]
	creds, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		s.stop()
		return nil, err
	}
	var akid, secret string
	for _, l := range strings.Split(string(creds), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			akid = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	provider := credentials.NewStaticCredentialsProvider(akid, secret, "")
	s.creds = provider
	s.client = ivs.New(ivs.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), Credentials: provider})
	s.chat = ivschat.New(ivschat.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), Credentials: provider})
	return s, nil
}

func (s *onair) channel(ctx context.Context, i int, low bool) (channel, error) {
	mode := types.ChannelLatencyModeNormalLatency
	if low {
		mode = types.ChannelLatencyModeLowLatency
	}
	out, err := s.client.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String(fmt.Sprintf("bench-%d", i)),
		Type: types.ChannelTypeBasicChannelType, LatencyMode: mode, InsecureIngest: true})
	if err != nil {
		return channel{}, err
	}
	u, _ := url.Parse("rtmp://" + s.addrs["rtmp"] + "/app")
	u.Fragment = aws.ToString(out.StreamKey.Value)
	arn := aws.ToString(out.Channel.Arn)
	return channel{publish: u, play: aws.ToString(out.Channel.PlaybackUrl),
		whep: s.endpoint + "/whep/" + arn[strings.LastIndexByte(arn, '/')+1:]}, nil
}

// peer is another RTMP-in, HLS-out server, started from a command line and
// reached through URL templates in which {name} is a path of its own.
type peer struct {
	*proc
	rtmp, hls, whep string
}

func startPeer(cmdline, rtmp, hls, whep string) (server, error) {
	dir, err := os.MkdirTemp("", "peer-bench-")
	if err != nil {
		return nil, err
	}
	p, err := startProc(dir, strings.Fields(cmdline)...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &peer{proc: p, rtmp: rtmp, hls: hls, whep: whep}
	u, err := url.Parse(strings.ReplaceAll(rtmp, "{name}", "x"))
	if err != nil {
		s.stop()
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "1935")
	}
	hu, err := url.Parse(strings.ReplaceAll(hls, "{name}", "x"))
	if err != nil {
		s.stop()
		return nil, err
	}
	// Up when both its RTMP and HTTP ports accept.
	deadline := time.Now().Add(20 * time.Second)
	for _, h := range []string{host, hu.Host} {
		for {
			c, err := net.DialTimeout("tcp", h, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				s.stop()
				return nil, fmt.Errorf("peer did not listen on %s", h)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s, nil
}

func (s *peer) channel(_ context.Context, i int, low bool) (channel, error) {
	if !low {
		return channel{}, errUnsupported
	}
	name := fmt.Sprintf("bench%d", i)
	u, err := url.Parse(strings.ReplaceAll(s.rtmp, "{name}", name))
	if err != nil {
		return channel{}, err
	}
	var whep string
	if s.whep != "" {
		whep = strings.ReplaceAll(s.whep, "{name}", name)
	}
	return channel{publish: u, play: strings.ReplaceAll(s.hls, "{name}", name), whep: whep}, nil
}

// usage sums the resident memory and CPU time of a process and its
// descendants (a server's ffmpeg children are its cost too).
func usage(root int) (rssMiB float64, cpu time.Duration) {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	type st struct{ rssKB, ticks int64 }
	stats := map[int]st{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		// Fields from state (3rd of stat): ppid is 4th, utime 14th,
		// stime 15th, cutime 16th, cstime 17th, rss 24th (pages).
		ppid, _ := strconv.Atoi(f[1])
		var ticks int64
		for _, k := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		parent[pid] = ppid
		stats[pid] = st{rss * int64(os.Getpagesize()) / 1024, ticks}
	}
	in := func(pid int) bool {
		for seen := 0; pid > 1 && seen < 64; seen++ {
			if pid == root {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	var kb, ticks int64
	for pid, s := range stats {
		if in(pid) {
			kb += s.rssKB
			ticks += s.ticks
		}
	}
	return float64(kb) / 1024, time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// meter measures a server's CPU use over a span.
type meter struct {
	pid int
	t0  time.Time
	c0  time.Duration
}

func startMeter(pid int) meter {
	_, c := usage(pid)
	return meter{pid: pid, t0: time.Now(), c0: c}
}

// read returns the CPU used since start, as a percentage of one core, and
// the resident memory now.
func (m meter) read() (cpuPct, rssMiB float64) {
	rss, c := usage(m.pid)
	return 100 * (c - m.c0).Seconds() / time.Since(m.t0).Seconds(), rss
}

// self is the bench program's own CPU time: the load generator's share of
// the machine.
func self() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
