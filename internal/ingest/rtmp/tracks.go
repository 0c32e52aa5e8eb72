package rtmp

import (
	"fmt"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/onair-video/onair/internal/stream"
)

const (
	videoClockRate = 90000
	opusClockRate  = 48000
)

// trackMap pairs the tracks an encoder announced with the stream tracks they
// become. in[i] maps to out[i] when out[i] != nil.
type trackMap struct {
	in      []*gortmplib.Track
	out     []*stream.Track
	ignored []string // why each skipped track was skipped, for the log
}

// published returns the stream tracks to start the hub with, in order.
func (m *trackMap) published() []*stream.Track {
	var ts []*stream.Track
	for _, t := range m.out {
		if t != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// hasVideo reports whether a video track is published; IVS refuses
// audio-only streams and so do we.
func (m *trackMap) hasVideo() bool {
	for _, t := range m.out {
		if t != nil && t.Codec.IsVideo() {
			return true
		}
	}
	return false
}

// mapTracks converts gortmplib tracks into stream tracks. It keeps the first
// supported video track and the first supported audio track: a single
// rendition is all the hub's consumers play, and Enhanced RTMP multitrack is
// a separate feature.
func mapTracks(in []*gortmplib.Track) *trackMap {
	m := &trackMap{in: in, out: make([]*stream.Track, len(in))}
	var haveVideo, haveAudio bool
	for i, t := range in {
		st, err := streamTrack(t.Codec)
		if err != nil {
			m.ignored = append(m.ignored, err.Error())
			continue
		}
		if st.Codec.IsVideo() {
			if haveVideo {
				m.ignored = append(m.ignored, fmt.Sprintf("extra video track %d", i))
				continue
			}
			haveVideo = true
		} else {
			if haveAudio {
				m.ignored = append(m.ignored, fmt.Sprintf("extra audio track %d", i))
				continue
			}
			haveAudio = true
		}
		m.out[i] = st
	}
	return m
}

func streamTrack(c rtmpcodecs.Codec) (*stream.Track, error) {
	switch c := c.(type) {
	case *rtmpcodecs.H264:
		return &stream.Track{Codec: &stream.H264{SPS: c.SPS, PPS: c.PPS}, ClockRate: videoClockRate}, nil
	case *rtmpcodecs.H265:
		return &stream.Track{Codec: &stream.H265{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}, ClockRate: videoClockRate}, nil
	case *rtmpcodecs.MPEG4Audio:
		if c.Config == nil || c.Config.SampleRate <= 0 {
			return nil, fmt.Errorf("MPEG-4 audio track without a usable config")
		}
		cfg := *c.Config
		return &stream.Track{Codec: &stream.AAC{Config: &cfg}, ClockRate: cfg.SampleRate}, nil
	case *rtmpcodecs.Opus:
		channels := 2
		if c.IDHeader != nil && c.IDHeader.ChannelCount > 0 {
			channels = int(c.IDHeader.ChannelCount)
		}
		return &stream.Track{Codec: &stream.Opus{ChannelCount: channels}, ClockRate: opusClockRate}, nil
	default:
		return nil, fmt.Errorf("unsupported codec %T", c)
	}
}
