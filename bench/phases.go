package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/internal/stream/streamtest"
	"github.com/onair-video/onair/test/e2e/harness"
)

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds())/1000, 1) }

func round(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return f
}

func idle(k kind, _ options) ([]result, error) {
	s, err := k.start()
	if err != nil {
		return nil, err
	}
	defer s.stop()
	time.Sleep(5 * time.Second)
	m := startMeter(s.pid())
	time.Sleep(5 * time.Second)
	cpu, rss := m.read()
	return []result{
		{Phase: "idle", Name: "RSS", Value: round(rss, 1), Unit: "MiB", Target: "≤ 30 MB"},
		{Phase: "idle", Name: "CPU", Value: round(cpu, 2), Unit: "% of a core"},
	}, nil
}

// api measures onair's control plane with aws-sdk-go-v2: sequential
// CreateChannel, then GetStream of an offline channel (a signed request
// answered ChannelNotBroadcasting, which the SDK does not retry) from 16
// clients.
func api(k kind, o options) ([]result, error) {
	srv, err := k.start()
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	s, ok := srv.(*onair)
	if !ok {
		return nil, errUnsupported
	}
	ctx := context.Background()
	var creates []time.Duration
	var arn *string
	for i := range 200 {
		t0 := time.Now()
		out, err := s.client.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String(fmt.Sprintf("bench-%d", i)),
			Type: types.ChannelTypeBasicChannelType})
		if err != nil {
			return nil, err
		}
		creates = append(creates, time.Since(t0))
		arn = out.Channel.Arn
	}
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	span := o.apiSpan
	m := startMeter(s.pid())
	var sm meter
	if s.storePID != 0 {
		sm = startMeter(s.storePID)
	}
	g0 := self()
	end := time.Now().Add(span)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				_, err := s.client.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: arn})
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
		})
	}
	wg.Wait()
	cpu, _ := m.read()
	var storeCPU float64
	if s.storePID != 0 {
		storeCPU, _ = sm.read()
	}
	gen := 100 * (self() - g0).Seconds() / span.Seconds()
	rps := float64(n.Load()) / span.Seconds()
	rs := []result{
		{Phase: "api", Name: "CreateChannel p50", Value: ms(percentile(creates, 0.5)), Unit: "ms"},
		{Phase: "api", Name: "CreateChannel p99", Value: ms(percentile(creates, 0.99)), Unit: "ms", Target: "≤ 20 ms"},
		{Phase: "api", Name: "GetStream (signed, 16 clients)", Value: round(rps, 0), Unit: "requests/s", Target: "≥ 5,000"},
		{Phase: "api", Name: "GetStream p99", Value: ms(percentile(lat, 0.99)), Unit: "ms"},
		{Phase: "api", Name: "GetStream: server / load generator (aws-sdk-go-v2) CPU", Value: round(cpu, 0),
			Unit: fmt.Sprintf("%% / %.0f %% of a core", gen)},
		{Phase: "api", Name: "GetStream: server CPU per request", Value: round(cpu*1e4/rps, 0), Unit: "µs"},
	}
	pgRow := result{Phase: "api", Name: "GetStream: PostgreSQL server CPU (its backends)", Value: round(storeCPU, 0), Unit: "% of a core"}
	if s.storePID == 0 {
		pgRow.Text = "—"
	}
	return append(rs, pgRow), nil
}

// live is a started server with one channel being published to.
type live struct {
	srv server
	ch  channel
	pub *publisher
}

func goLive(ctx context.Context, k kind, o options, low bool) (*live, error) {
	s, err := k.start()
	if err != nil {
		return nil, err
	}
	ch, err := s.channel(ctx, 0, low)
	if err != nil {
		s.stop()
		return nil, err
	}
	pub, err := publish(ctx, ch.publish, o.clip)
	if err != nil {
		s.stop()
		return nil, err
	}
	return &live{srv: s, ch: ch, pub: pub}, nil
}

// goLivePlaying is goLive, then waits until the stream plays, and returns
// the media playlists a player loads.
func goLivePlaying(ctx context.Context, k kind, o options, low bool) (*live, []*url.URL, error) {
	l, err := goLive(ctx, k, o, low)
	if err != nil {
		return nil, nil, err
	}
	media, err := playUntilReady(ctx, newHTTPClient(), l.ch.play)
	if err != nil {
		l.stop()
		return nil, nil, err
	}
	return l, media, nil
}

// firstFrames measures time to first frame ten times: a new player on a
// new connection asks for the multivariant playlist, its media playlist
// and the file pick names in it (a part or a segment that starts on a
// keyframe), at a random moment each time.
func firstFrames(ctx context.Context, play string, pick func([]byte) string) ([]time.Duration, error) {
	var out []time.Duration
	var buf bytesBuffer
	for range 10 {
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		t0 := time.Now()
		hc := newHTTPClient()
		media, err := mediaPlaylists(ctx, hc, play)
		if err != nil {
			return nil, err
		}
		b, err := get(ctx, hc, media[0].String(), &buf.pl)
		if err != nil {
			return nil, err
		}
		name := pick(b)
		if name == "" {
			return nil, errors.New("nothing to start from in the media playlist")
		}
		u, err := media[0].Parse(name)
		if err != nil {
			return nil, err
		}
		if _, err := get(ctx, hc, u.String(), &buf.part); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
		hc.CloseIdleConnections()
	}
	return out, nil
}

func (l *live) stop() {
	l.pub.stop()
	l.srv.stop()
}

// latencyLow follows a LOW latency channel's video playlist as an LL-HLS
// player does (every part in order, the preload hint asked for before it
// exists) and takes each frame's latency from its send on the RTMP socket
// to the end of the download of the part that holds it. Then it measures
// time to first frame: a new player (new connection) asking for the
// multivariant playlist, the media playlist and the newest independent
// part.
func latencyLow(k kind, o options) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.span+time.Minute)
	defer cancel()
	l, media, err := goLivePlaying(ctx, k, o, true)
	if err != nil {
		return nil, err
	}
	defer l.stop()
	f := newFollower(media[0])
	defer f.close()
	var lat []time.Duration
	total := int((3*time.Second + o.span) / time.Second)
	start := time.Now()
	for time.Since(start) < 3*time.Second+o.span {
		data, got, err := f.next(ctx)
		if err != nil {
			return nil, err
		}
		if time.Since(start) < 3*time.Second {
			continue
		}
		for _, t := range streamtest.ReadStamps(data, -1) {
			lat = append(lat, got.Sub(t))
		}
		progress("LL-HLS latency (s)", min(int(time.Since(start)/time.Second), total), total)
	}
	progress("LL-HLS latency (s)", total, total)
	if len(lat) == 0 {
		return nil, errors.New("no stamped frame came back")
	}
	ttff, err := firstFrames(ctx, l.ch.play, func(b []byte) string { _, ind := parts(b); return ind })
	if err != nil {
		return nil, err
	}
	return []result{
		{Phase: "LL-HLS", Name: "frame latency p50 (RTMP send → part downloaded)", Value: ms(percentile(lat, 0.5)), Unit: "ms", Target: "≤ 100 ms"},
		{Phase: "LL-HLS", Name: "frame latency p95", Value: ms(percentile(lat, 0.95)), Unit: "ms", Target: "≤ 180 ms"},
		{Phase: "LL-HLS", Name: "frame latency max", Value: ms(percentile(lat, 1)), Unit: "ms"},
		{Phase: "LL-HLS", Name: "frames measured", Value: float64(len(lat)), Target: "≥ 30 s"},
		{Phase: "LL-HLS", Name: "time to first frame p50 (multivariant + media playlist + independent part, new connection)",
			Value: ms(percentile(ttff, 0.5)), Unit: "ms", Target: "≤ 300 ms"},
		{Phase: "LL-HLS", Name: "time to first frame max", Value: ms(percentile(ttff, 1)), Unit: "ms"},
	}, nil
}

type bytesBuffer struct{ pl, part bytes.Buffer }

// latencyNormal follows a NORMAL channel's media playlist, polled every
// 100 ms, and takes each frame's latency to the end of the download of its
// segment.
func latencyNormal(k kind, o options) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.span+time.Minute)
	defer cancel()
	l, media, err := goLivePlaying(ctx, k, o, false)
	if err != nil {
		return nil, err
	}
	defer l.stop()
	hc := newHTTPClient()
	seen := map[string]bool{}
	var lat []time.Duration
	var buf bytesBuffer
	total := int((3*time.Second + o.span) / time.Second)
	start := time.Now()
	first := true
	for time.Since(start) < 3*time.Second+o.span {
		b, err := get(ctx, hc, media[0].String(), &buf.pl)
		if err != nil {
			return nil, err
		}
		for _, seg := range segments(b) {
			if seen[seg] {
				continue
			}
			seen[seg] = true
			if first {
				continue // already there when the player came
			}
			su, _ := media[0].Parse(seg)
			data, err := get(ctx, hc, su.String(), &buf.part)
			if err != nil {
				return nil, err
			}
			got := time.Now()
			if time.Since(start) < 3*time.Second {
				continue
			}
			for _, t := range streamtest.ReadStamps(data, -1) {
				lat = append(lat, got.Sub(t))
			}
		}
		first = false
		progress("HLS latency (s)", min(int(time.Since(start)/time.Second), total), total)
		time.Sleep(100 * time.Millisecond)
	}
	progress("HLS latency (s)", total, total)
	if len(lat) == 0 {
		return nil, errors.New("no stamped frame came back")
	}
	// Time to first frame: a new player (new connection), multivariant,
	// media playlist, and the newest segment (which starts on a keyframe).
	ttff, err := firstFrames(ctx, l.ch.play, func(b []byte) string {
		if segs := segments(b); len(segs) > 0 {
			return segs[len(segs)-1]
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	return []result{
		{Phase: "HLS (NORMAL)", Name: "frame latency p50 (RTMP send → segment downloaded, playlist polled every 100 ms)", Value: ms(percentile(lat, 0.5)), Unit: "ms"},
		{Phase: "HLS (NORMAL)", Name: "frame latency p95", Value: ms(percentile(lat, 0.95)), Unit: "ms"},
		{Phase: "HLS (NORMAL)", Name: "time to first frame p50 (multivariant + media playlist + newest segment, new connection)",
			Value: ms(percentile(ttff, 0.5)), Unit: "ms"},
	}, nil
}

// latencyWHEP plays the channel with a pion WHEP viewer and takes each
// frame's latency from its send on the RTMP socket to the arrival of its
// last RTP packet.
func latencyWHEP(k kind, o options) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.span+time.Minute)
	defer cancel()
	l, _, err := goLivePlaying(ctx, k, o, true) // live once HLS plays
	if err != nil {
		return nil, err
	}
	defer l.stop()
	if l.ch.whep == "" {
		return nil, errUnsupported
	}
	var v *harness.WHEPViewer
	for v == nil {
		if v, err = harness.WatchWHEP(ctx, l.ch.whep); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	defer v.Close()
	total := int((3*time.Second + o.span) / time.Second)
	t0 := time.Now()
	for time.Since(t0) < 3*time.Second+o.span {
		progress("WHEP latency (s)", min(int(time.Since(t0)/time.Second), total), total)
		time.Sleep(time.Second)
	}
	progress("WHEP latency (s)", total, total)
	var lat []time.Duration
	for _, f := range v.Frames() {
		if !f.Sent.IsZero() && f.Arrived.After(t0.Add(3*time.Second)) {
			lat = append(lat, f.Arrived.Sub(f.Sent))
		}
	}
	if len(lat) == 0 {
		return nil, errors.New("no stamped frame came over WHEP")
	}
	return []result{
		{Phase: "WHEP", Name: "frame latency p50 (RTMP send → last RTP packet)", Value: ms(percentile(lat, 0.5)), Unit: "ms"},
		{Phase: "WHEP", Name: "frame latency p95", Value: ms(percentile(lat, 0.95)), Unit: "ms"},
		{Phase: "WHEP", Name: "frames measured", Value: float64(len(lat))},
	}, nil
}
