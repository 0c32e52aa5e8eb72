package hls

import (
	"fmt"
	"net/url"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// rewriteMultivariant makes gohlslib's multivariant playlist work from the
// IVS playback URL. gohlslib names media playlists relative to itself
// ("video1_stream.m3u8"); the multivariant is served one level up, at
// /api/video/v1/{region}.{account}.channel.{id}.m3u8, so every variant and
// rendition URI gets the "{channelId}/" prefix. Query strings gohlslib
// copied from the request stay on the URIs, and the player's playback
// session id (docs/viewers.md) is set in them.
func rewriteMultivariant(pl *playlist.Multivariant, channelID, sessionID string) ([]byte, error) {
	rewrite := func(uri string) (string, error) {
		u, err := url.Parse(uri)
		if err != nil {
			return "", fmt.Errorf("hls: variant URI %q: %w", uri, err)
		}
		q := u.Query()
		q.Set(sessionParam, sessionID)
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
	return out, nil
}
