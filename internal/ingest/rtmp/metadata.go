package rtmp

import (
	"strings"
	"unicode"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/onair-video/onair/internal/live"
)

// maxEncoderLen bounds the encoder name kept from untrusted metadata.
const maxEncoderLen = 256

// metaConn is the connection gortmplib's Reader reads through: it passes
// every message on and keeps the latest onMetaData, which the Reader itself
// ignores. Only the reading goroutine uses it.
type metaConn struct {
	*gortmplib.ServerConn
	meta live.Metadata
}

func (c *metaConn) Read() (message.Message, error) {
	msg, err := c.ServerConn.Read()
	if d, ok := msg.(*message.DataAMF0); ok && err == nil {
		if m, ok := parseMetadata(d.Payload); ok {
			c.meta = m
		}
	}
	return msg, err
}

// parseMetadata reads an onMetaData data message: ["@setDataFrame",
// "onMetaData", {…}] as OBS and ffmpeg send it, or ["onMetaData", {…}].
// Anything else, or a malformed one, is not metadata (ok false); values of
// the wrong type are skipped.
func parseMetadata(payload amf0.Data) (live.Metadata, bool) {
	if len(payload) > 0 && payload[0] == "@setDataFrame" {
		payload = payload[1:]
	}
	if len(payload) < 2 || payload[0] != "onMetaData" {
		return live.Metadata{}, false
	}
	var obj amf0.Object
	switch o := payload[1].(type) {
	case amf0.Object:
		obj = o
	case amf0.ECMAArray:
		obj = amf0.Object(o)
	default:
		return live.Metadata{}, false
	}
	num := func(key string) float64 {
		v, _ := obj.GetFloat64(key)
		return v
	}
	m := live.Metadata{
		VideoDataRate:   num("videodatarate"),
		FrameRate:       num("framerate"),
		Width:           num("width"),
		Height:          num("height"),
		AudioDataRate:   num("audiodatarate"),
		AudioSampleRate: num("audiosamplerate"),
		AudioChannels:   num("audiochannels"),
	}
	if m.AudioChannels == 0 {
		if v, ok := obj.Get("stereo"); ok {
			if stereo, ok := v.(bool); ok {
				m.AudioChannels = 1
				if stereo {
					m.AudioChannels = 2
				}
			}
		}
	}
	if s, ok := obj.GetString("encoder"); ok {
		m.Encoder = cleanText(s, maxEncoderLen)
	}
	return m, true
}

// cleanText keeps printable characters of s, at most n bytes, so that an
// encoder's name is safe in logs, JSON and the console.
func cleanText(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			continue
		}
		if b.Len()+len(string(r)) > n {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
