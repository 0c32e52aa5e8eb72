package hls

import (
	"strconv"
	"strings"
)

// pathPrefix is where the app mounts the server. Paths are accepted with or
// without it, so mounting behind http.StripPrefix works too.
const pathPrefix = "/api/video/v1/"

const maxChannelIDLen = 64

// playbackPath is a parsed request path.
type playbackPath struct {
	channelID string
	// rendition names a transcoded rendition ({channelId}/{rendition}/{file});
	// empty for the source.
	rendition string
	// file is empty for the multivariant playlist
	// ({region}.{account}.channel.{id}.m3u8), else the name of a media
	// playlist, init file, segment or part under {id}/.
	file string
}

// parsePath maps a request path to a channel and file. It accepts:
//
//	/api/video/v1/{region}.{account}.channel.{channelId}.m3u8  multivariant
//	/api/video/v1/{channelId}/{file}                           the source's files
//	/api/video/v1/{channelId}/{rendition}/{file}               a transcoded rendition's
//
// Anything else, including index.m3u8 under a channel (the multivariant has
// one public name only) and any nesting, is refused.
func parsePath(p string) (playbackPath, bool) {
	p = strings.TrimPrefix(p, strings.TrimSuffix(pathPrefix, "/"))
	p = strings.TrimPrefix(p, "/")

	id, file, nested := strings.Cut(p, "/")
	if !nested {
		name, ok := strings.CutSuffix(p, ".m3u8")
		if !ok {
			return playbackPath{}, false
		}
		i := strings.LastIndex(name, ".channel.")
		if i < 0 {
			return playbackPath{}, false
		}
		region, account, ok := strings.Cut(name[:i], ".")
		if !ok || !isLabel(region) || !isLabel(account) {
			return playbackPath{}, false
		}
		id = name[i+len(".channel."):]
		if !isChannelID(id) {
			return playbackPath{}, false
		}
		return playbackPath{channelID: id}, true
	}
	rendition, rest, hasRendition := strings.Cut(file, "/")
	if hasRendition {
		if !isRenditionName(rendition) {
			return playbackPath{}, false
		}
		file = rest
	} else {
		rendition = ""
	}
	if !isChannelID(id) || !isFileName(file) {
		return playbackPath{}, false
	}
	return playbackPath{channelID: id, rendition: rendition, file: file}, true
}

// isChannelID accepts IVS channel ids: alphanumerics (12 of them on IVS;
// the length is not ours to enforce here, only bounded).
func isChannelID(s string) bool {
	if s == "" || len(s) > maxChannelIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// isRenditionName accepts the names of transcoded renditions, as IVS
// names them in recordings: 480p30, 360p30, 160p30, 720p60.
func isRenditionName(s string) bool {
	if len(s) < 3 || len(s) > 16 {
		return false
	}
	p := strings.IndexByte(s, 'p')
	if p < 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != p && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// isLabel accepts a region or account: alphanumerics and dashes.
func isLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// isFileName accepts the names gohlslib generates: media playlists
// ({stream}_stream.m3u8), init files, segments and parts (.mp4, .ts).
func isFileName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return strings.HasSuffix(s, "_stream.m3u8") || strings.HasSuffix(s, ".mp4") || strings.HasSuffix(s, ".ts")
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// partName splits a gohlslib part file name, {prefix}_{stream}_part{N}.mp4,
// into the stream id and N.
func partName(file string) (streamID string, id uint64, ok bool) {
	base, ok := strings.CutSuffix(file, ".mp4")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndex(base, "_part")
	if i < 0 {
		return "", 0, false
	}
	id, err := strconv.ParseUint(base[i+len("_part"):], 10, 64)
	if err != nil {
		return "", 0, false
	}
	_, streamID, ok = strings.Cut(base[:i], "_")
	if !ok || streamID == "" {
		return "", 0, false
	}
	return streamID, id, true
}
