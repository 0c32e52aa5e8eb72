package hls

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// segmentMetadataOf reads a tag made by id3SegmentMetadata as a player
// would: an ID3v2.4 tag of one TXXX frame, UTF-8, description
// "segmentmetadata", whose JSON value has cmd "ld_lat_data" and transc_r.
func segmentMetadataOf(tag []byte) (transcR int64, ok bool) {
	if len(tag) < 10 || !bytes.HasPrefix(tag, []byte("ID3\x04\x00\x00")) || syncsafe(tag[6:10]) != len(tag)-10 {
		return 0, false
	}
	f := tag[10:]
	if len(f) < 11 || string(f[:4]) != "TXXX" || syncsafe(f[4:8]) != len(f)-10 || f[10] != 3 {
		return 0, false
	}
	desc, value, found := bytes.Cut(f[11:], []byte{0})
	if !found || string(desc) != segmentMetadataDescription {
		return 0, false
	}
	var v struct {
		Cmd     string `json:"cmd"`
		TranscR *int64 `json:"transc_r"`
	}
	if err := json.Unmarshal(value, &v); err != nil || v.Cmd != "ld_lat_data" || v.TranscR == nil {
		return 0, false
	}
	return *v.TranscR, true
}

func isSegmentMetadata(tag []byte) bool {
	_, ok := segmentMetadataOf(tag)
	return ok
}

func TestID3SegmentMetadata(t *testing.T) {
	t.Parallel()
	for _, at := range []time.Time{
		time.UnixMilli(1796309931915),
		time.Date(2026, 12, 4, 20, 0, 0, 999_999_999, time.UTC), // ms, not rounded
		time.UnixMilli(0),
	} {
		tag := id3SegmentMetadata(at)
		got, ok := segmentMetadataOf(tag)
		if !ok || got != at.UnixMilli() {
			t.Errorf("%v: transc_r %d (ok %v), want %d: %q", at, got, ok, at.UnixMilli(), tag)
		}
		want := `{"cmd":"ld_lat_data","transc_r":` + strconv.FormatInt(at.UnixMilli(), 10) + `}`
		if !bytes.HasSuffix(tag, []byte("segmentmetadata\x00"+want)) {
			t.Errorf("%v: tag %q", at, tag)
		}
	}
	// PutMetadata's tags are no segment metadata.
	if isSegmentMetadata(id3Text([]byte(`{"cmd":"ld_lat_data","transc_r":1}`))) {
		t.Error("a PutMetadata tag read as segment metadata")
	}
}

// TestSegmentMetadataInTS: every MPEG-TS segment (NORMAL channels, and the
// edition IVS's player gets of LOW ones) starts its ID3 stream with
// segment metadata presented with the segment's first video frame, whose
// transc_r is when that frame was received (the unit's NTP; here a clock
// of the test's, so it cannot be the muxer's own), as the segment's
// EXT-X-PROGRAM-DATE-TIME says too. PutMetadata's tags follow it.
func TestSegmentMetadataInTS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, latency string
		edition       bool
		playlist      string
	}{
		{"NORMAL", ivs.LatencyNormal, false, "main_stream.m3u8"},
		{"LOW edition", ivs.LatencyLow, true, editionPlaylist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.latency, ivs.ContainerTS, nil)
			base := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
			e.ntp = base.Add
			e.writeUntil(time.Second)
			if tc.edition {
				m := e.srv.lookup(testChannelID)
				start := e.async(t, channelDir+tc.playlist)
				streamtest.Eventually(t, 5*time.Second, "the edition", func() bool { return m.ts.Load() != nil })
				e.writeUntil(3 * time.Second)
				await(t, start, 10*time.Second, "the edition's first playlist")
			}
			e.writeUntil(4 * time.Second)
			e.settled(t, tc.playlist)
			const text = "put"
			if err := e.st.PutMetadata([]byte(text)); err != nil {
				t.Fatal(err)
			}
			e.writeUntil(8 * time.Second)
			media := mustMedia(t, e.settled(t, tc.playlist))
			tags, segs := id3InTS(t, e, channelDir, media)
			if len(segs) < 3 {
				t.Fatalf("%d segments", len(segs))
			}
			for i, s := range segs {
				transcR, ok := segmentMetadataOf(s.first)
				if !ok {
					t.Fatalf("segment %s starts its ID3 stream with %q", s.uri, s.first)
				}
				at := time.UnixMilli(transcR)
				pdt := media.Segments[i].DateTime
				if s.firstPTS != s.videoPTS || pdt == nil || at.Before(base) || at.After(base.Add(8*time.Second)) ||
					transcR != pdt.UnixMilli() {
					t.Fatalf("segment %s: transc_r %v at PTS %d; its first video PTS %d, PDT %v", s.uri, at, s.firstPTS, s.videoPTS, pdt)
				}
				if i > 0 {
					// Media time and receive time go on together.
					prev, _ := segmentMetadataOf(segs[i-1].first)
					if d := float64(transcR-prev) - float64(s.videoPTS-segs[i-1].videoPTS)/90; math.Abs(d) > 1 {
						t.Fatalf("segment %s: transc_r moved %d ms, video %d ticks", s.uri, transcR-prev, s.videoPTS-segs[i-1].videoPTS)
					}
				}
			}
			if len(tags) != 1 || !bytes.Equal(tags[0], id3Text([]byte(text))) {
				t.Fatalf("tags after the segments' own: %q, want PutMetadata's", tags)
			}
		})
	}
}

// TestNoSegmentMetadataInFMP4: LL-HLS parts and fMP4 segments carry no
// segment metadata (hls.js would raise a cue per part); their timed
// metadata is PutMetadata's only (TestTimedMetadataInParts).
func TestNoSegmentMetadataInFMP4(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, latency, container string }{
		{"LL-HLS", ivs.LatencyLow, ""},
		{"fMP4 HLS", ivs.LatencyNormal, ivs.ContainerFMP4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.latency, tc.container, nil)
			e.writeUntil(4 * time.Second)
			media := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
			uris := []string{media.Map.URI}
			for _, s := range media.Segments {
				if !strings.HasPrefix(s.URI, "gap") {
					uris = append(uris, s.URI)
				}
				for _, p := range s.Parts {
					uris = append(uris, p.URI)
				}
			}
			if len(uris) < 3 {
				t.Fatalf("%d files", len(uris))
			}
			for _, u := range uris {
				if r := e.get(t, channelDir+u); r.status != http.StatusOK || bytes.Contains(r.body, []byte("segmentmetadata")) ||
					bytes.Contains(r.body, []byte("emsg")) {
					t.Fatalf("%s: %d, %d bytes, with segment metadata or an emsg", u, r.status, len(r.body))
				}
			}
		})
	}
}

var serverTimeLine = regexp.MustCompile(`(?m)^#EXT-X-SESSION-DATA:DATA-ID="SERVER-TIME",VALUE="(\d+\.\d{3})"\n`)

// serverTimeOf returns a multivariant playlist's server time and the
// playlist without it.
func serverTimeOf(t *testing.T, body []byte) (time.Time, []byte) {
	t.Helper()
	m := serverTimeLine.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no server time in\n%s", body)
	}
	sec, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(math.Round(sec * 1000))), serverTimeLine.ReplaceAll(body, nil)
}

func TestWithServerTime(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1796309830120)
	for _, tc := range []struct{ name, in, want string }{
		{"after the header", "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n",
			"#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-SESSION-DATA:DATA-ID=\"SERVER-TIME\",VALUE=\"1796309830.120\"\n#EXT-X-INDEPENDENT-SEGMENTS\n"},
		{"header only", "#EXTM3U\n#EXT-X-VERSION:3\n",
			"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-SESSION-DATA:DATA-ID=\"SERVER-TIME\",VALUE=\"1796309830.120\"\n"},
		{"short", "#EXTM3U\n", "#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID=\"SERVER-TIME\",VALUE=\"1796309830.120\"\n"},
	} {
		if got := string(withServerTime([]byte(tc.in), at)); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

// TestServerTimeServed: the multivariant playlist every player gets says
// the server time when it was answered, parseable by gohlslib's reader
// (which skips the tag) as before.
func TestServerTimeServed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, latency, container, accept string }{
		{"LOW, hls.js", ivs.LatencyLow, "", "*/*"},
		{"LOW, IVS's player", ivs.LatencyLow, "", ivsPlayerAccept},
		{"NORMAL", ivs.LatencyNormal, ivs.ContainerTS, ""},
		{"NORMAL fMP4", ivs.LatencyNormal, ivs.ContainerFMP4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.latency, tc.container, nil)
			e.writeUntil(6 * time.Second)
			for range 2 {
				before := time.Now().Truncate(time.Millisecond)
				r := e.getAs(t, testPlayback, tc.accept)
				at, _ := serverTimeOf(t, r.body)
				if r.status != http.StatusOK || at.Before(before) || at.After(time.Now()) {
					t.Fatalf("%d: server time %v, asked at %v", r.status, at, before)
				}
				if pl := mustMultivariant(t, r.body); len(pl.Variants) == 0 {
					t.Fatal("no variant")
				}
			}
		})
	}
}
