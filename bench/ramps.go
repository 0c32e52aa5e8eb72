package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// behindAfter is how old a frame may be when its part has been read before
// the viewer counts as behind the live edge: ten 100 ms parts, five of
// 200 ms.
const behindAfter = time.Second

// viewer is one LL-HLS player of the viewers phase: it follows the video
// playlist and the audio playlist, every part in order.
type viewer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	parts, late int // in the current window
	maxLag      time.Duration
	err         error
}

func startViewer(ctx context.Context, play string) *viewer {
	ctx, cancel := context.WithCancel(ctx)
	v := &viewer{cancel: cancel}
	v.wg.Go(func() {
		hc := newHTTPClient()
		defer hc.CloseIdleConnections()
		media, err := playUntilReady(ctx, hc, play)
		if err != nil {
			v.fail(ctx, err)
			return
		}
		var wg sync.WaitGroup
		for i, m := range media {
			wg.Go(func() {
				f := newFollower(m)
				defer f.close()
				for {
					data, got, err := f.next(ctx)
					if err != nil {
						v.fail(ctx, err)
						return
					}
					if i == 0 {
						v.observe(data, got)
					}
				}
			})
		}
		wg.Wait()
	})
	return v
}

func (v *viewer) observe(part []byte, got time.Time) {
	ts := streamtest.ReadStamps(part, 1)
	if len(ts) == 0 {
		return
	}
	lag := got.Sub(ts[0]) // the part's oldest frame
	v.mu.Lock()
	v.parts++
	if lag > behindAfter {
		v.late++
	}
	v.maxLag = max(v.maxLag, lag)
	v.mu.Unlock()
}

func (v *viewer) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	v.mu.Lock()
	if v.err == nil {
		v.err = err
	}
	v.mu.Unlock()
}

// window returns what the viewer saw since the last call, and whether it
// kept to the live edge: no error, and no more than one part in twenty
// with a frame older than behindAfter.
func (v *viewer) window() (ok bool, maxLag time.Duration, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ok = v.err == nil && v.parts > 0 && v.late*20 <= v.parts
	maxLag, err = v.maxLag, v.err
	v.parts, v.late, v.maxLag = 0, 0, 0
	return ok, maxLag, err
}

// steps are a ramp's sizes up to last.
// audience is the players of a ramp, grown step by step.
type audience []*viewer

// grow joins players until there are n, over about a second as an
// audience does, the i-th playing play(i); then it lets them settle and
// starts every player's measured window.
func (a *audience) grow(ctx context.Context, label string, n int, play func(i int) string) {
	for add := n - len(*a); len(*a) < n; {
		*a = append(*a, startViewer(ctx, play(len(*a))))
		progress(fmt.Sprintf("%s: joining %d", label, n), len(*a), n)
		time.Sleep(time.Second / time.Duration(add))
	}
	time.Sleep(4 * time.Second)
	for _, v := range *a {
		_, _, _ = v.window() // the measured window starts now
	}
}

// stop ends every player and waits for them.
func (a audience) stop() {
	for _, v := range a {
		v.cancel()
	}
	for _, v := range a {
		v.wg.Wait()
	}
}

func steps(first, last int, grow func(int) int) []int {
	var out []int
	for n := first; n < last; n = grow(n) {
		out = append(out, n)
	}
	return append(out, last)
}

// viewers ramps concurrent LL-HLS viewers of one stream until one falls
// behind the live edge (or the ramp's end), measuring the server's CPU and
// RSS at each step against the stream with no viewer.
func viewers(k kind, o options) ([]result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := goLive(ctx, k, o, true)
	if err != nil {
		return nil, err
	}
	defer l.stop()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = playUntilReady(wctx, newHTTPClient(), l.ch.play)
	wcancel()
	if err != nil {
		return nil, err
	}
	time.Sleep(3 * time.Second)
	m := startMeter(l.srv.pid())
	time.Sleep(5 * time.Second)
	cpu0, rss0 := m.read()
	rs := []result{{Phase: "viewers", Name: "server with the stream and no viewer: CPU", Value: round(cpu0, 1), Unit: "% of a core"},
		{Phase: "viewers", Name: "server with the stream and no viewer: RSS", Value: round(rss0, 1), Unit: "MiB"}}

	var vs audience
	defer func() { vs.stop() }()
	best := -1
	var bestCPU, bestRSS float64
	for _, n := range steps(100, o.maxViewers, func(n int) int { return n + 100 }) {
		vs.grow(ctx, "viewers", n, func(int) string { return l.ch.play })
		m := startMeter(l.srv.pid())
		g0 := self()
		time.Sleep(6 * time.Second)
		cpu, rss := m.read()
		gen := 100 * (self() - g0).Seconds() / 6
		behind, maxLag := 0, time.Duration(0)
		var why error
		for _, v := range vs {
			ok, lag, err := v.window()
			maxLag = max(maxLag, lag)
			if !ok {
				behind++
				if why == nil {
					why = err
				}
			}
		}
		fmt.Fprintf(os.Stderr, "  %d viewers: server CPU %.0f %%, RSS %.0f MiB, load generator CPU %.0f %%, oldest frame on arrival %v, behind %d (%v)\n",
			n, cpu, rss, gen, maxLag.Round(time.Millisecond), behind, why)
		rs = append(rs, result{Phase: "viewers", Name: fmt.Sprintf("%d viewers: server CPU / RSS / oldest frame read / behind", n),
			Value: round(cpu, 0), Unit: fmt.Sprintf("%% / %.0f MiB / %d ms / %d", rss, maxLag.Milliseconds(), behind)})
		if behind > 0 {
			break
		}
		best, bestCPU, bestRSS = n, cpu, rss
	}
	time.Sleep(o.hold)
	if best < 0 {
		return append(rs, result{Phase: "viewers", Name: "viewers at the live edge", Value: 0, Target: "≥ 500"}), nil
	}
	return append(rs,
		result{Phase: "viewers", Name: "viewers at the live edge (ramp by 100)", Value: float64(best), Target: "≥ 500"},
		result{Phase: "viewers", Name: "CPU per viewer (at the last step at the live edge)", Value: round((bestCPU-cpu0)/float64(best), 3),
			Unit: fmt.Sprintf("%% of a core (at %d)", best), Target: "≤ 0.15 %"},
		result{Phase: "viewers", Name: "RSS per viewer (at the last step at the live edge)", Value: round((bestRSS-rss0)/float64(best)*1.048576, 3),
			Unit: fmt.Sprintf("MB (at %d)", best), Target: "≤ 0.15 MB"},
	), nil
}

// publishers ramps concurrent RTMP publishers, each to its own channel and
// each checked playable (a player reads a part with one of its frames),
// measuring the server's RSS and CPU per publisher.
func publishers(k kind, o options) ([]result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := k.start()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	time.Sleep(2 * time.Second)
	rss0, _ := usage(s.pid())
	type pubCh struct {
		p  *publisher
		ch channel
	}
	var pubs []pubCh
	defer func() {
		for _, p := range pubs {
			p.p.cancel()
		}
		for _, p := range pubs {
			<-p.p.done
		}
	}()
	var rs []result
	best := -1
	var bestRSS, bestCPU float64
	for _, n := range steps(50, o.maxPublishers, func(n int) int { return n + 50 }) {
		first := len(pubs)
		for len(pubs) < n {
			ch, err := s.channel(ctx, len(pubs), true)
			if err != nil {
				return nil, err
			}
			p, err := publish(ctx, ch.publish, o.clip)
			if err != nil {
				return nil, fmt.Errorf("publisher %d: %w", len(pubs), err)
			}
			pubs = append(pubs, pubCh{p, ch})
			progress(fmt.Sprintf("publishers: connecting %d", n), len(pubs), n)
			time.Sleep(20 * time.Millisecond)
		}
		// Every new one plays; then a sample of all are still live.
		if err := checkPlayable(ctx, pubs[first:], func(p pubCh) string { return p.ch.play }); err != nil {
			return nil, err
		}
		time.Sleep(3 * time.Second)
		m := startMeter(s.pid())
		g0 := self()
		time.Sleep(5 * time.Second)
		cpu, rss := m.read()
		gen := 100 * (self() - g0).Seconds() / 5
		var failed error
		for i, p := range pubs {
			if err := p.p.failed(); err != nil {
				failed = fmt.Errorf("publisher %d: %w", i, err)
				break
			}
		}
		sample := make([]pubCh, 0, 10)
		for range 10 {
			sample = append(sample, pubs[rand.IntN(len(pubs))])
		}
		lag, err := liveLag(ctx, sample, func(p pubCh) string { return p.ch.play })
		if failed == nil && err != nil {
			failed = err
		}
		fmt.Fprintf(os.Stderr, "  %d publishers: server CPU %.0f %%, RSS %.0f MiB, load generator CPU %.0f %%, sampled frame latency max %v (%v)\n",
			n, cpu, rss, gen, lag.Round(time.Millisecond), failed)
		rs = append(rs, result{Phase: "publishers", Name: fmt.Sprintf("%d publishers: server CPU / RSS / sampled frame latency max", n),
			Value: round(cpu, 0), Unit: fmt.Sprintf("%% / %.0f MiB / %d ms", rss, lag.Milliseconds())})
		if failed != nil || lag > 2*behindAfter {
			break
		}
		best, bestRSS, bestCPU = n, rss, cpu
	}
	time.Sleep(o.hold)
	if best < 0 {
		return append(rs, result{Phase: "publishers", Name: "publishers live", Value: 0, Target: "≥ 300"}), nil
	}
	return append(rs,
		result{Phase: "publishers", Name: "publishers live and playable (ramp by 50)", Value: float64(best), Target: "≥ 300"},
		result{Phase: "publishers", Name: fmt.Sprintf("RSS per publisher (at %d)", best), Value: round((bestRSS-rss0)/float64(best)*1.048576, 2), Unit: "MB", Target: "≤ 6 MB"},
		result{Phase: "publishers", Name: fmt.Sprintf("CPU per publisher (at %d)", best), Value: round(bestCPU/float64(best), 2), Unit: "% of a core"},
	), nil
}

// checkPlayable has a player read a stamped part of each stream, 16 at a
// time.
func checkPlayable[T any](ctx context.Context, items []T, play func(T) string) error {
	_, err := liveLag(ctx, items, play)
	return err
}

// liveLag reads one part of each stream, 16 at a time, and returns the
// largest age of a part's newest frame on arrival.
func liveLag[T any](ctx context.Context, items []T, play func(T) string) (time.Duration, error) {
	var mu sync.Mutex
	var worst time.Duration
	var first error
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			lag, err := readOnePart(ctx, play(it))
			mu.Lock()
			defer mu.Unlock()
			worst = max(worst, lag)
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	return worst, first
}

func readOnePart(ctx context.Context, play string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	media, err := playUntilReady(ctx, hc, play)
	if err != nil {
		return 0, err
	}
	f := newFollower(media[0])
	defer f.close()
	for range 3 {
		data, got, err := f.next(ctx)
		if err != nil {
			return 0, err
		}
		if ts := streamtest.ReadStamps(data, -1); len(ts) > 0 {
			return got.Sub(ts[len(ts)-1]), nil
		}
	}
	return 0, errors.New("three parts without a stamped frame")
}
