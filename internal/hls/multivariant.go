package hls

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/internal/playback"
)

// rewriteMultivariant makes gohlslib's multivariant playlist work from the
// IVS playback URL. gohlslib names media playlists relative to itself
// ("video1_stream.m3u8"); the multivariant is served one level up, at
// /api/video/v1/{region}.{account}.channel.{id}.m3u8, so every variant and
// rendition URI gets the "{channelId}/" prefix. The request's query
// (rawQuery) goes on the URIs, as gohlslib puts it there, with the
// player's playback session id (docs/viewers.md) set in it, and token, a
// private channel's session credential, in place of the token the request
// had. It says the server's time, now (serverTime).
func rewriteMultivariant(pl *playlist.Multivariant, rawQuery, channelID, sessionID, token string, now time.Time) ([]byte, error) {
	rewrite := func(uri string) (string, error) {
		if rawQuery != "" {
			uri += "?" + rawQuery
		}
		u, err := url.Parse(uri)
		if err != nil {
			return "", fmt.Errorf("hls: variant URI %q: %w", uri, err)
		}
		q := u.Query()
		q.Set(sessionParam, sessionID)
		if token != "" {
			q.Set(playback.TokenParam, token)
		}
		u.RawQuery = q.Encode()
		return channelID + "/" + u.String(), nil
	}
	for _, v := range pl.Variants {
		uri, err := rewrite(v.URI)
		if err != nil {
			return nil, err
		}
		v.URI = uri
	}
	for _, r := range pl.Renditions {
		if r.URI != nil {
			uri, err := rewrite(*r.URI)
			if err != nil {
				return nil, err
			}
			r.URI = &uri
		}
	}
	out, err := pl.Marshal()
	if err != nil {
		return nil, fmt.Errorf("hls: marshal multivariant playlist: %w", err)
	}
	return withServerTime(out, now), nil
}

// serverTimeID is the EXT-X-SESSION-DATA that says the server's clock, in
// seconds since the epoch, when it answered. IVS's web player takes the
// difference from its own clock as the offset of its latency measure
// (id3SegmentMetadata's transc_r is on the server's clock); IVS's
// multivariant playlists say it in #EXT-X-TWITCH-INFO, which the player
// reads the same. EXT-X-SESSION-DATA is RFC 8216's, which other players
// accept (hls.js, Safari, ffmpeg skip what they do not use).
const serverTimeID = "SERVER-TIME"

// withServerTime puts the server time line after pl's header
// (#EXTM3U, #EXT-X-VERSION), where gohlslib's playlist package, which
// does not model EXT-X-SESSION-DATA, leaves room for any tag.
func withServerTime(pl []byte, now time.Time) []byte {
	line := fmt.Sprintf("#EXT-X-SESSION-DATA:DATA-ID=%q,VALUE=\"%.3f\"\n", serverTimeID, float64(now.UnixMilli())/1000)
	i := 0
	for range 2 { // after the first two lines
		j := bytes.IndexByte(pl[i:], '\n')
		if j < 0 {
			return append(pl, line...)
		}
		i += j + 1
	}
	out := make([]byte, 0, len(pl)+len(line))
	out = append(out, pl[:i]...)
	out = append(out, line...)
	return append(out, pl[i:]...)
}

// capHeight drops the variants taller than maxHeight (0: none), keeping
// the shortest one if all are: a viewer limited to SD of a 720p-only
// stream still gets a picture rather than an empty playlist.
func capHeight(vs []*playlist.MultivariantVariant, maxHeight int) []*playlist.MultivariantVariant {
	if maxHeight <= 0 || len(vs) == 0 {
		return vs
	}
	out := vs[:0:0]
	shortest := vs[0]
	for _, v := range vs {
		h := variantHeight(v)
		if h <= maxHeight {
			out = append(out, v)
		}
		if h < variantHeight(shortest) {
			shortest = v
		}
	}
	if len(out) == 0 {
		out = append(out, shortest)
	}
	return out
}

// variantHeight is a variant's RESOLUTION height, 0 when it has none.
func variantHeight(v *playlist.MultivariantVariant) int {
	_, h, ok := strings.Cut(v.Resolution, "x")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(h)
	return n
}

// renditionHeight is the height a rendition name (480p30) gives.
func renditionHeight(name string) int {
	h, _, _ := strings.Cut(name, "p")
	n, _ := strconv.Atoi(h)
	return n
}
