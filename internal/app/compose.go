package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/compose"
	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/internal/stream"
)

// composeStages gives compositions the stages' publishers and media
// (compose.Stage over *stage.Stages).
type composeStages struct{ s *stage.Stages }

var _ compose.Stage = composeStages{}

func (c composeStages) Watch(stageARN string, fn func([]compose.Publisher)) func() {
	return c.s.Watch(stageARN, func(ps []stage.Publishing) {
		out := make([]compose.Publisher, len(ps))
		for i, p := range ps {
			out[i] = compose.Publisher{ID: p.Participant.ID, Attributes: p.Participant.Attributes,
				AudioMuted: p.AudioMuted, VideoStopped: p.VideoStopped, Since: p.Since, Session: p.Session}
		}
		fn(out)
	})
}

func (c composeStages) Tap(stageARN, participantID, tapID string, audio, video func(*rtp.Header, []byte)) (compose.Tap, error) {
	sub, err := c.s.Tap(stageARN, participantID, tapID, sfu.TapOptions{Audio: audio, Video: video})
	if err != nil {
		return nil, err
	}
	return composeTap{sub}, nil
}

// composeTap is a tap as compositions see it.
type composeTap struct{ sub *sfu.Subscription }

func (t composeTap) Close()                { t.sub.Close() }
func (t composeTap) Done() <-chan struct{} { return t.sub.Done() }
func (t composeTap) RequestKeyframe()      { t.sub.RequestKeyframe() }

func (t composeTap) SelectLayer(id string) error { return t.sub.SelectLayer(id) }

func (t composeTap) Layers() []compose.Layer {
	ls := t.sub.Layers()
	out := make([]compose.Layer, len(ls))
	for i, l := range ls {
		out[i] = compose.Layer{ID: l.EncodingID, Width: l.Width, Height: l.Height}
	}
	return out
}

func (t composeTap) Codecs() (compose.VideoCodec, bool) {
	a, v := t.sub.Codecs()
	var vc compose.VideoCodec
	if v != nil {
		switch {
		case strings.EqualFold(v.MimeType, webrtc.MimeTypeH264):
			vc = compose.CodecH264
		case strings.EqualFold(v.MimeType, webrtc.MimeTypeVP8):
			vc = compose.CodecVP8
		}
	}
	return vc, a != nil && strings.EqualFold(a.MimeType, webrtc.MimeTypeOpus)
}

// compositor runs the Stages domain's compositions on the compose engine
// (ivsrealtime.Compositor over *compose.Engine).
type compositor struct{ e *compose.Engine }

var _ ivsrealtime.Compositor = compositor{}

// Layout validates a layout and gives it IVS's defaults.
func (compositor) Layout(raw json.RawMessage) (json.RawMessage, error) {
	c, err := compose.ParseConfiguration(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c.WithDefaults())
}

func (c compositor) Start(ctx context.Context, comp ivsrealtime.Composition, video []ivsrealtime.CompositionVideo) error {
	layout, err := compose.ParseConfiguration(comp.Layout)
	if err != nil {
		return err
	}
	spec := compose.Spec{ARN: comp.ARN, StageARN: comp.StageARN, Layout: layout}
	for _, v := range video {
		i := slices.IndexFunc(comp.Destinations, func(d ivsrealtime.Destination) bool { return d.ID == v.DestinationID })
		if i < 0 {
			return fmt.Errorf("app: composition %s has no destination %s", comp.ARN, v.DestinationID)
		}
		d := comp.Destinations[i]
		ds := compose.DestinationSpec{ID: d.ID, Video: compose.VideoSpec{Width: int(v.Video.Width), Height: int(v.Video.Height),
			FPS: float64(v.Video.Framerate), Bitrate: int(v.Video.Bitrate)}}
		if ch := d.Configuration.Channel; ch != nil {
			ds.ChannelARN = ch.ChannelARN
		}
		if t := v.S3; t != nil {
			ds.S3 = &compose.S3Spec{Bucket: t.Bucket, Prefix: t.Prefix, SegmentDuration: t.SegmentDuration,
				ThumbnailInterval: t.ThumbnailInterval, Sequential: t.Sequential, Latest: t.Latest,
				Metadata: map[string]string{"stage_arn": comp.StageARN, "composition_arn": comp.ARN, "destination_id": d.ID}}
		}
		spec.Destinations = append(spec.Destinations, ds)
	}
	return c.e.Start(ctx, spec)
}

func (c compositor) Stop(arn string) bool { return c.e.Stop(arn) }

// compositeRecording records an s3 destination's composite with the HLS
// writer that stage recordings share, through the recordings' spool.
func compositeRecording(spool *record.Spool, log *slog.Logger) func(string, compose.DestinationSpec) compose.Recording {
	return func(_ string, d compose.DestinationSpec) compose.Recording {
		size := fmt.Sprintf("%dx%d", d.Video.Width, d.Video.Height)
		th := record.Thumbnails{}
		if d.S3.ThumbnailInterval > 0 {
			th = record.Thumbnails{Interval: d.S3.ThumbnailInterval, Sequential: d.S3.Sequential, Latest: d.S3.Latest,
				Make: ffmpeg.KeyframeJPEG}
		}
		return hlsRecording{record.NewHLS(record.HLSConfig{Spool: spool, Bucket: d.S3.Bucket, Prefix: d.S3.Prefix, Rendition: size,
			SegmentDuration: d.S3.SegmentDuration, Thumbnails: th, Metadata: d.S3.Metadata, Log: log})}
	}
}

// hlsRecording is a record.HLS as compose.Recording.
type hlsRecording struct{ h *record.HLS }

func (r hlsRecording) Record(ctx context.Context, rd *stream.Reader, tracks []*stream.Track) error {
	return r.h.Record(ctx, rd, tracks)
}

func (r hlsRecording) Close(failure string) { r.h.Close(failure) }
