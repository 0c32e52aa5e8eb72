package hls

import (
	"strings"
	"testing"

	"github.com/bluenviron/gohlslib/v2"
)

func TestPlaylistQuery(t *testing.T) {
	const pl = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PART:DURATION=0.1,URI=\"a_part1.mp4\",INDEPENDENT=YES\n" +
		"#EXTINF:1.00000,\r\nseg1.mp4\r\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"a_part2.mp4\"\n"
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"no query", "", pl},
		{"only directives", "_HLS_msn=3&_HLS_part=1&_HLS_skip=YES", pl},
		{"session id and directives dropped", "vsid=x1&_HLS_msn=3", pl},
		{"token kept, directives and session id dropped", "token=abc&_HLS_msn=3&vsid=x1",
			"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4?token=abc\"\n#EXT-X-PART:DURATION=0.1,URI=\"a_part1.mp4?token=abc\",INDEPENDENT=YES\n" +
				"#EXTINF:1.00000,\r\nseg1.mp4?token=abc\r\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"a_part2.mp4?token=abc\"\n"},
		{"quote and newline are escaped", "t=%22%0A",
			"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4?t=%22%0A\"\n#EXT-X-PART:DURATION=0.1,URI=\"a_part1.mp4?t=%22%0A\",INDEPENDENT=YES\n" +
				"#EXTINF:1.00000,\r\nseg1.mp4?t=%22%0A\r\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"a_part2.mp4?t=%22%0A\"\n"},
		{"malformed query is dropped", "a=%zz", pl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(newPLBody([]byte(pl)).with(passQuery(tc.raw))); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParseDirectives(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want directives
	}{
		{"", directives{}},
		{"vsid=abc", directives{}},
		{"_HLS_msn=12&_HLS_part=3&vsid=abc", directives{msn: "12", part: "3"}},
		{"_HLS_skip=YES&token=t", directives{skip: "YES", others: true}},
		{"&&_HLS_msn=1&", directives{msn: "1"}},
	} {
		if got := parseDirectives(tc.raw); got != tc.want {
			t.Errorf("parseDirectives(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseDirectives("_HLS_msn=12&_HLS_part=3&vsid=abcdefghijklmnopqrstuv") }); n != 0 {
		t.Errorf("parseDirectives allocates %v times per request", n)
	}
}

func TestPlaylistComplete(t *testing.T) {
	st := &plState{snap: &gohlslib.MuxerMediaPlaylist{NextPart: gohlslib.MuxerPartID{ID: 23, MSN: 9, Index: 2}, MediaSequence: 2}}
	for _, tc := range []struct {
		msn  uint64
		part int64
		want bool
	}{
		{8, -1, true}, {9, -1, false}, {8, 7, true}, {9, 0, true}, {9, 1, true}, {9, 2, false}, {10, 0, false},
	} {
		if got := st.complete(tc.msn, tc.part); got != tc.want {
			t.Errorf("complete(%d, %d) = %v, want %v", tc.msn, tc.part, got, tc.want)
		}
	}
}

func FuzzPassQuery(f *testing.F) {
	f.Add("token=abc&_HLS_msn=1")
	f.Add("a=%22&b=\n")
	f.Fuzz(func(t *testing.T, raw string) {
		q := passQuery(raw)
		for _, c := range []byte(q) {
			if c == '"' || c == '\n' || c == '\r' || c == ' ' {
				t.Fatalf("passQuery(%q) = %q: would break the playlist", raw, q)
			}
		}
	})
}

// Request paths and LL-HLS directives come from anyone on the internet.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{testPlayback, "/api/video/v1/abc/video1_stream.m3u8", "/api/video/v1/abc/480p30/x_part3.mp4",
		"/api/video/v1/a.b.channel..m3u8", "/api/video/v1/../etc/passwd", "//", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		pp, ok := parsePath(p)
		if !ok {
			return
		}
		if !isChannelID(pp.channelID) || strings.Contains(pp.file, "/") || strings.Contains(pp.file, "..") {
			t.Fatalf("%q parsed to %+v", p, pp)
		}
		_, _, _ = partName(pp.file)
	})
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{"_HLS_msn=5&_HLS_part=2", "_HLS_skip=YES&vsid=abc", "_HLS_msn=&_HLS_part=-1", "a=%zz&_HLS_msn=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_ = parseDirectives(raw)
		_ = passQuery(raw)
	})
}
