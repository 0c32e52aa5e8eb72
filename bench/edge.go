package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/stream/streamtest"
	"github.com/onair-video/onair/test/e2e/harness"
)

// edgeBench measures playing through a cluster's edges: an origin node
// takes the stream, two other nodes serve it (their LL-HLS is a caching,
// coalescing proxy of the origin's). It reports what an edge adds to a
// frame's LL-HLS latency, an origin player and an edge player following
// the same parts at once, and the requests the edges make to the origin
// as the players over them grow, which coalescing keeps flat.
func edgeBench(k kind, o options) ([]result, error) {
	if k.bin == "" {
		return nil, errUnsupported
	}
	db, pgPID, err := postgresDB()
	if err != nil {
		return nil, err
	}
	bus, err := startNATS()
	if err != nil {
		return nil, err
	}
	defer bus.Shutdown()
	nodes := make([]*onair, 3)
	for i, id := range []string{"origin", "edge1", "edge2"} {
		// The cluster requires a bucket store every node reaches; this
		// phase records nothing, so none is listening there.
		n, err := startOnairWith(k.bin, pgPID, "--store", "postgres", "--postgres-url", db, "--nats-url", bus.URL(),
			"--node-id", id, "--s3-endpoint", "http://127.0.0.1:9")
		if err != nil {
			return nil, err
		}
		defer n.stop()
		nodes[i] = n
	}
	origin, edges := nodes[0], nodes[1:]
	ctx, cancel := context.WithTimeout(context.Background(), o.span+5*time.Minute)
	defer cancel()
	ch, err := origin.channel(ctx, 0, true)
	if err != nil {
		return nil, err
	}
	pub, err := publish(ctx, ch.publish, o.clip)
	if err != nil {
		return nil, err
	}
	defer pub.stop()
	at := func(n *onair) (string, error) {
		u, err := url.Parse(ch.play)
		if err != nil {
			return "", err
		}
		u.Host = n.addrs["http"]
		return u.String(), nil
	}
	originPlay, err := at(origin)
	if err != nil {
		return nil, err
	}
	var plays []string
	for _, e := range edges {
		p, err := at(e)
		if err != nil {
			return nil, err
		}
		plays = append(plays, p)
	}

	// Latency: a player on the origin and one on an edge, side by side.
	lats := make([][]time.Duration, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, play := range []string{originPlay, plays[0]} {
		wg.Go(func() {
			media, err := playUntilReady(ctx, newHTTPClient(), play)
			if err != nil {
				errs[i] = err
				return
			}
			f := newFollower(media[0])
			defer f.close()
			start := time.Now()
			for time.Since(start) < 3*time.Second+o.span {
				data, got, err := f.next(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				if time.Since(start) < 3*time.Second {
					continue
				}
				for _, t := range streamtest.ReadStamps(data, -1) {
					lats[i] = append(lats[i], got.Sub(t))
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(lats[0]) == 0 || len(lats[1]) == 0 {
		return nil, errors.New("no stamped frame came back")
	}
	p50o, p50e := percentile(lats[0], 0.5), percentile(lats[1], 0.5)
	rs := []result{
		{Phase: "edge", Name: "LL-HLS frame latency p50 on the origin (RTMP send → part downloaded)", Value: ms(p50o), Unit: "ms"},
		{Phase: "edge", Name: "LL-HLS frame latency p50 through an edge, at the same time", Value: ms(p50e), Unit: "ms"},
		{Phase: "edge", Name: "added by the edge, p50", Value: ms(p50e - p50o), Unit: "ms", Target: "≤ 20 ms"},
		{Phase: "edge", Name: "LL-HLS frame latency p95 through an edge", Value: ms(percentile(lats[1], 0.95)), Unit: "ms"},
	}

	// Requests to the origin as the players over the edges grow.
	var vs audience
	defer func() { vs.stop() }()
	for _, n := range o.edgeViewers {
		vs.grow(ctx, "edge players", n, func(i int) string { return plays[i%2] })
		r0, err := edgeRequests(ctx, edges)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		time.Sleep(6 * time.Second)
		r1, err := edgeRequests(ctx, edges)
		if err != nil {
			return nil, err
		}
		rate := (r1 - r0) / time.Since(t0).Seconds()
		behind := 0
		for _, v := range vs {
			if ok, _, _ := v.window(); !ok {
				behind++
			}
		}
		fmt.Fprintf(os.Stderr, "  %d players over two edges: %.1f origin requests/s, %d behind\n", n, rate, behind)
		rs = append(rs,
			result{Phase: "edge", Name: fmt.Sprintf("requests the edges made to the origin, %d players over two edges", n),
				Value: round(rate, 1), Unit: "/s", Target: "flat as players grow"},
			result{Phase: "edge", Name: fmt.Sprintf("players behind the live edge, of %d", n), Value: float64(behind), Target: "0"})
	}
	return rs, nil
}

// edgeRequests sums the edges' onair_edge_origin_requests_total.
func edgeRequests(ctx context.Context, edges []*onair) (float64, error) {
	var sum float64
	for _, e := range edges {
		v, err := metricValue(ctx, e.endpoint, "onair_edge_origin_requests_total")
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// metricValue reads an unlabelled metric from a server's /metrics.
func metricValue(ctx context.Context, endpoint, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", endpoint, name)
}

// startNATS starts an embedded NATS server for the edge phase's cluster.
func startNATS() (n *harness.NATS, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pgFatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("nats: %s", string(f))
		}
	}()
	return harness.StartNATS(pgT{}), nil
}
