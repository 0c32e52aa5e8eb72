package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// LL-HLS of a stream published to A, played from B: B proxies A's
// muxer (the same media sequence numbers, the same part bytes), follows
// blocking reloads and preload hints, and its player counts in A's
// viewerCount.
func TestClusterEdgeHLS(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 2, harness.ClusterOptions{})
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := harness.Context(t, 2*time.Minute)
	ch, key := createChannel(t, a.IVS(), "edge", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	waitLive(t, a.IVS(), aws.ToString(ch.Arn))
	pu, _ := url.Parse(aws.ToString(ch.PlaybackUrl))
	at := func(s *harness.Server) string { return "http://" + s.Addrs["http"] + pu.Path }
	var mvB, mvA string
	harness.Eventually(t, 20*time.Second, func() error {
		mv, _, err := harness.FetchMultivariant(ctx, at(b))
		if err != nil {
			return err
		}
		mvB = harness.Resolve(at(b), mv.Variants[0].URI)
		mv, _, err = harness.FetchMultivariant(ctx, at(a))
		if err != nil {
			return err
		}
		mvA = harness.Resolve(at(a), mv.Variants[0].URI)
		return nil
	})
	mb, _, err := harness.FetchMedia(ctx, mvB)
	if err != nil {
		t.Fatal(err)
	}
	ma, _, err := harness.FetchMedia(ctx, mvA)
	if err != nil {
		t.Fatal(err)
	}
	if d := int(ma.MediaSequence) - int(mb.MediaSequence); d < 0 || d > 1 {
		t.Fatalf("media sequence: A %d, B %d", ma.MediaSequence, mb.MediaSequence)
	}
	// Follow 30 parts through B with blocking reloads and the hinted part.
	msn, part := mb.MediaSequence+len(mb.Segments), len(mb.Parts)
	for i := range 30 {
		u := fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", mvB, msn, part)
		m, res, err := harness.FetchMedia(ctx, u)
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		hint, err := harness.Fetch(ctx, harness.Resolve(mvB, m.PreloadHint.URI))
		if err != nil || hint.Status != 200 {
			t.Fatalf("hint %d: %v %d", i, err, hint.Status)
		}
		if res.Status != 200 {
			t.Fatalf("reload %d: %d", i, res.Status)
		}
		if i%10 == 0 {
			fromA, err := harness.Fetch(ctx, harness.Resolve(mvA, m.PreloadHint.URI))
			if err != nil || !bytes.Equal(fromA.Body, hint.Body) {
				t.Fatalf("part %s: %d bytes from B, %d from A (%v)", m.PreloadHint.URI, len(hint.Body), len(fromA.Body), err)
			}
		}
		msn, part = m.MediaSequence+len(m.Segments), len(m.Parts)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		got, err := a.IVS().GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		// B's player, and A's (the media playlist asked of A above).
		if got.Stream.ViewerCount != 2 {
			return fmt.Errorf("viewers %d", got.Stream.ViewerCount)
		}
		return nil
	})
}

// A player on C of A's stream, when A is killed and the encoder goes live
// on B: C answers 503 while A cannot be reached, then 404 to the old
// stream's player, whose multivariant reload plays B's stream through C.
func TestClusterEdgeOriginKilled(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 3, harness.ClusterOptions{})
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	ctx := harness.Context(t, 2*time.Minute)
	ch, key := createChannel(t, a.IVS(), "edgekilled", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	old := waitLive(t, cc.IVS(), aws.ToString(ch.Arn))
	pu, _ := url.Parse(aws.ToString(ch.PlaybackUrl))
	mvURL := "http://" + cc.Addrs["http"] + pu.Path
	var media string
	harness.Eventually(t, 20*time.Second, func() error {
		mv, _, err := harness.FetchMultivariant(ctx, mvURL)
		if err != nil {
			return err
		}
		media = harness.Resolve(mvURL, mv.Variants[0].URI)
		_, _, err = harness.FetchMedia(ctx, media)
		return err
	})

	a.Kill()
	killed := time.Now()
	var sawUnavailable bool
	harness.Eventually(t, 15*time.Second, func() error {
		res, err := harness.Fetch(ctx, media)
		if err != nil {
			return err
		}
		sawUnavailable = sawUnavailable || res.Status == http.StatusServiceUnavailable
		if res.Status == http.StatusOK {
			return fmt.Errorf("the killed origin's playlist still served")
		}
		return nil
	})
	st, _, _ := republish(t, b, ch, aws.ToString(key.Value), aws.ToString(old.StreamId), 30*time.Second)
	waitLive(t, cc.IVS(), aws.ToString(ch.Arn))
	// The old stream's player is told its playlist is gone.
	if res, err := harness.Fetch(ctx, media); err != nil || res.Status != http.StatusNotFound {
		t.Fatalf("the old stream's player on C: %d, %v", res.Status, err)
	}
	// It reloads the multivariant and plays B's stream through C.
	harness.Eventually(t, 20*time.Second, func() error {
		mv, _, err := harness.FetchMultivariant(ctx, mvURL)
		if err != nil {
			return err
		}
		mediaURL := harness.Resolve(mvURL, mv.Variants[0].URI)
		m, _, err := harness.FetchMedia(ctx, mediaURL)
		if err != nil {
			return err
		}
		part, err := harness.Fetch(ctx, harness.Resolve(mediaURL, m.PreloadHint.URI))
		if err != nil || part.Status != http.StatusOK {
			return fmt.Errorf("hinted part: %w %d", err, part.Status)
		}
		return nil
	})
	// The bound: re-published to B and playing from C within 10 s
	// of A's death (with the tests' 3 s lease TTL; an encoder retrying).
	playing := time.Since(killed)
	t.Logf("503 while A was unreachable: %v; B's stream %s playing from C %v after the kill", sawUnavailable,
		aws.ToString(st.StreamId), playing.Round(time.Millisecond))
	if playing > 10*time.Second {
		t.Errorf("playing from C %v after A was killed; want within 10 s", playing)
	}
}
