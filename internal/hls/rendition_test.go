package hls

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// A rendition added beside the source appears in the multivariant once it
// has a segment, after the source, with its files under {id}/{name}/; its
// media playlist requests count as the channel's viewers; removing it takes
// it out again.
func TestRenditions(t *testing.T) {
	t.Parallel()
	for _, latency := range []string{ivs.LatencyLow, ivs.LatencyNormal} {
		t.Run(latency, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, latency, "", nil)
			// The rendition carries the same clip: what matters here is
			// the serving, not the picture.
			rh := stream.NewHub([]*stream.Track{
				{Codec: videoCodec(e.v), ClockRate: 90000},
				{Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{
					Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}}, ClockRate: 48000},
			})
			remove := e.srv.AddRendition(e.st, "160p30", rh)
			re := &env{hub: rh, v: e.v}
			e.writeUntil(4 * time.Second)
			re.writeUntil(4 * time.Second)

			var mv playlist.Multivariant
			streamtest.Eventually(t, 5*time.Second, "two variants", func() bool {
				r := e.get(t, testPlayback)
				mv = playlist.Multivariant{}
				return r.status == http.StatusOK && mv.Unmarshal(r.body) == nil && len(mv.Variants) == 2
			})
			src, ren := mv.Variants[0], mv.Variants[1]
			if !strings.HasPrefix(src.URI, testChannelID+"/") || strings.Contains(src.URI, "160p30") ||
				!strings.HasPrefix(ren.URI, testChannelID+"/160p30/") || !strings.Contains(ren.URI, "vsid=") ||
				ren.Bandwidth <= 0 || ren.Resolution == "" {
				t.Fatalf("variants %+v / %+v", src, ren)
			}
			if src.Audio != "" || ren.Audio != "" || len(mv.Renditions) != 0 {
				t.Errorf("audio groups %q and %q, %d renditions: every level carries its audio", src.Audio, ren.Audio, len(mv.Renditions))
			}
			r := e.get(t, pathPrefix+ren.URI)
			if r.status != http.StatusOK || !strings.Contains(string(r.body), "#EXTINF") {
				t.Fatalf("rendition playlist: %d %s", r.status, r.body)
			}
			var m playlist.Media
			if err := m.Unmarshal(r.body); err != nil || len(m.Segments) == 0 {
				t.Fatalf("rendition playlist: %v", err)
			}
			seg := m.Segments[len(m.Segments)-1].URI
			if r := e.get(t, pathPrefix+testChannelID+"/160p30/"+seg); r.status != http.StatusOK || len(r.body) == 0 {
				t.Fatalf("rendition segment %s: %d", seg, r.status)
			}
			if n := e.srv.Viewers(testChannelID); n != 1 {
				t.Errorf("viewers %d after one rendition playlist request", n)
			}
			if r := e.get(t, pathPrefix+testChannelID+"/720p30/"+seg); r.status != http.StatusNotFound {
				t.Errorf("unknown rendition: %d", r.status)
			}

			remove()
			if r := e.get(t, pathPrefix+ren.URI); r.status != http.StatusNotFound {
				t.Errorf("removed rendition: %d", r.status)
			}
			var after playlist.Multivariant
			if r := e.get(t, testPlayback); after.Unmarshal(r.body) != nil || len(after.Variants) != 1 {
				t.Errorf("multivariant after removal: %s", r.body)
			}
		})
	}
}
