package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/test/e2e/harness"
)

// ffmpegChildren returns the pids of the ffmpeg processes pid started.
func ffmpegChildren(pid int) []int {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid), "ffmpeg").Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// multivariant fetches and parses the channel's multivariant playlist.
func multivariant(ctx context.Context, u string) (*playlist.Multivariant, error) {
	r, err := harness.Fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("multivariant: status %d", r.Status)
	}
	var mv playlist.Multivariant
	if err := mv.Unmarshal(r.Body); err != nil {
		return nil, err
	}
	return &mv, nil
}

// A STANDARD LOW channel published at 1280x720 gets a ladder: the
// multivariant lists the source and 480p, 360p and 160p renditions; every
// rendition's playlist advances and its segments decode at the rendition's
// size; killing the ladder's ffmpeg recovers the ladder within seconds
// while the source plays on.
func TestStandardLadder(t *testing.T) {
	t.Parallel()
	harness.Heavy(t) // a 720p encoder and the ladder's decoder and three encoders
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "ladder", types.ChannelTypeStandardChannelType, types.ChannelLatencyModeLowLatency)
	harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "1280x720", Rate: 30, GOP: 30,
		VideoBitrate: "2500k", Audio: true})
	waitLive(t, c, aws.ToString(ch.Arn))
	ctx := harness.Context(t, 120*time.Second)
	playback := aws.ToString(ch.PlaybackUrl)

	want := []string{"1280x720", "854x480", "640x360", "284x160"}
	var mv *playlist.Multivariant
	harness.Eventually(t, 30*time.Second, func() error {
		var err error
		if mv, err = multivariant(ctx, playback); err != nil {
			return err
		}
		var got []string
		for _, v := range mv.Variants {
			got = append(got, v.Resolution)
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("variants %v, want %v", got, want)
		}
		return nil
	})
	for i, v := range mv.Variants {
		if v.Bandwidth <= 0 || v.AverageBandwidth == nil || v.FrameRate == nil || *v.FrameRate != 30 ||
			!slices.ContainsFunc(v.Codecs, func(c string) bool { return strings.HasPrefix(c, "avc1.") }) {
			t.Errorf("variant %d: %+v", i, v)
		}
		if i > 0 && v.Bandwidth >= mv.Variants[i-1].Bandwidth {
			t.Errorf("variant %d BANDWIDTH %d not below the one before (%d)", i, v.Bandwidth, mv.Variants[i-1].Bandwidth)
		}
	}
	// Every rendition advances and decodes at its size.
	for i, v := range mv.Variants {
		mediaURL := harness.Resolve(playback, v.URI)
		m, seg := waitSegment(t, ctx, mediaURL)
		var wdt, hgt int
		if _, err := fmt.Sscanf(want[i], "%dx%d", &wdt, &hgt); err != nil {
			t.Fatalf("size %q: %v", want[i], err)
		}
		checkSegment(t, mediaURL, m, seg, wdt, hgt, 30)
		first := m.MediaSequence + len(m.Segments)
		harness.Eventually(t, 10*time.Second, func() error {
			m2, _, err := harness.FetchMedia(ctx, mediaURL)
			if err != nil {
				return err
			}
			if m2.MediaSequence+len(m2.Segments) <= first {
				return fmt.Errorf("%s does not advance", want[i])
			}
			return nil
		})
	}

	// Kill the ladder's ffmpeg: the source plays on, the ladder comes back.
	kids := ffmpegChildren(s.PID())
	if len(kids) != 1 {
		t.Fatalf("ffmpeg children of onair: %v, want the ladder's one", kids)
	}
	source := harness.Resolve(playback, mv.Variants[0].URI)
	before, _, err := harness.FetchMedia(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 15*time.Second, func() error {
		k := ffmpegChildren(s.PID())
		if len(k) != 1 || k[0] == kids[0] {
			return fmt.Errorf("ffmpeg children %v", k)
		}
		m, err := multivariant(ctx, playback)
		if err != nil {
			return err
		}
		if len(m.Variants) != 4 {
			return fmt.Errorf("%d variants", len(m.Variants))
		}
		return nil
	})
	t.Logf("ladder back %v after its ffmpeg was killed", time.Since(killed).Round(100*time.Millisecond))
	after, _, err := harness.FetchMedia(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	if after.MediaSequence+len(after.Segments) <= before.MediaSequence+len(before.Segments) {
		t.Errorf("the source stopped while the ladder recovered")
	}
	// The restart is an event of the session.
	harness.Eventually(t, 15*time.Second, func() error {
		out, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		for _, e := range out.StreamSession.TruncatedEvents {
			if aws.ToString(e.Name) == "Transcode Failure" && aws.ToString(e.Type) == "IVS Stream Health Change" {
				return nil
			}
		}
		return fmt.Errorf("no Transcode Failure among %d events", len(out.StreamSession.TruncatedEvents))
	})
}
