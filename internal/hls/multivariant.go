package hls

import (
	"fmt"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// rewriteMultivariant makes gohlslib's multivariant playlist work from the
// IVS playback URL. gohlslib names media playlists relative to itself
// ("video1_stream.m3u8"); the multivariant is served one level up, at
// /api/video/v1/{region}.{account}.channel.{id}.m3u8, so every variant and
// rendition URI gets the "{channelId}/" prefix. Query strings gohlslib
// copied from the request stay on the URIs.
func rewriteMultivariant(buf []byte, channelID string) ([]byte, error) {
	var pl playlist.Multivariant
	if err := pl.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("hls: parse multivariant playlist: %w", err)
	}
	for _, v := range pl.Variants {
		v.URI = channelID + "/" + v.URI
	}
	for _, r := range pl.Renditions {
		if r.URI != nil {
			u := channelID + "/" + *r.URI
			r.URI = &u
		}
	}
	out, err := pl.Marshal()
	if err != nil {
		return nil, fmt.Errorf("hls: marshal multivariant playlist: %w", err)
	}
	return out, nil
}
