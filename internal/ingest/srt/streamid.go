package srt

import (
	"errors"
	"strings"
)

// maxStreamKeyLen bounds what reaches the store (IVS keys are 47 characters).
const maxStreamKeyLen = 256

// Errors of parseStreamID. They never quote the stream id: it holds the key.
var (
	errNoStreamID   = errors.New("srt: no streamid (set streamid to the stream key)")
	errBadStreamID  = errors.New("srt: malformed streamid")
	errNotPublish   = errors.New("srt: only publishing is served over SRT (m=publish)")
	errBadKeyFormat = errors.New("srt: malformed stream key")
)

// parseStreamID returns the stream key a caller put in its SRT streamid.
// IVS documents the bare key (srt://host:9000?streamid={key}); the SRT
// access-control syntax "#!::r={key},m=publish" (what some encoders build
// from separate fields) is accepted too, with u= and other keys ignored.
func parseStreamID(id string) (string, error) {
	if id == "" {
		return "", errNoStreamID
	}
	key := id
	if rest, ok := strings.CutPrefix(id, "#!::"); ok {
		key = ""
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return "", errBadStreamID
			}
			switch k {
			case "r":
				key = v
			case "m":
				if v != "publish" {
					return "", errNotPublish
				}
			}
		}
		if key == "" {
			return "", errBadStreamID
		}
	}
	if len(key) > maxStreamKeyLen {
		return "", errBadKeyFormat
	}
	for i := 0; i < len(key); i++ {
		// Printable ASCII, as IVS keys are: nothing else reaches a query.
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return "", errBadKeyFormat
		}
	}
	return key, nil
}
