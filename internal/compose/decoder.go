package compose

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/onair-video/onair/internal/ffmpeg"
)

// fillFilter is the ffmpeg filter that fits any picture into w x h as the
// fill mode says: FILL stretches, COVER scales up and crops the middle,
// CONTAIN scales down and pads with black. The source's size may change
// mid-stream (a simulcast layer switch); the output's never does.
func fillFilter(w, h int, fill FillMode) string {
	switch fill {
	case FillFill:
		return fmt.Sprintf("scale=%d:%d,setsar=1", w, h)
	case FillContain:
		return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2,pad=%d:%d:(ow-iw)/2:(oh-ih)/2:black,setsar=1", w, h, w, h)
	default:
		return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase:force_divisible_by=2,crop=%d:%d,setsar=1", w, h, w, h)
	}
}

// videoDecoderArgs decodes IVF (VP8, or H.264 in Annex-B, which ffmpeg's
// IVF demuxer takes by its fourcc and hands on whole: no parser waits for
// the next frame) and writes raw yuv420p pictures of w x h, one per frame.
func videoDecoderArgs(w, h int, fill FillMode) []string {
	return append(ffmpeg.LowDelay(), "-threads", "1", "-f", "ivf", "-i", "pipe:0",
		"-vf", fillFilter(w, h, fill), "-pix_fmt", "yuv420p", "-fps_mode", "passthrough",
		"-f", "rawvideo", "-flush_packets", "1", "pipe:1")
}

// decoderQueue bounds the frames waiting for a participant's decoder:
// 250 ms at 30 fps. One that falls further behind drops frames and starts
// again at a keyframe, rather than delaying its tile.
const decoderQueue = 8

// startVideoDecoder runs one participant's video decoder for a tile of
// w x h; out receives every picture (its buffer is the decoder's again
// after the call).
// onRestart hears of a restart of its ffmpeg (which must then start again
// at a keyframe).
func startVideoDecoder(ctx context.Context, codec VideoCodec, w, h int, fill FillMode, log *slog.Logger, out func(*Picture), onRestart func(error)) (*ffmpeg.Converter, error) {
	fourcc := "H264"
	if codec == CodecVP8 {
		fourcc = "VP80"
	}
	enc := func(wr io.Writer) (func(ffmpeg.Frame) error, error) { return ffmpeg.IVFWriter(wr, fourcc, w, h) }
	dec := func(r *bufio.Reader) error {
		pic := &Picture{W: w, H: h, Data: make([]byte, PictureSize(w, h))}
		for {
			if _, err := io.ReadFull(r, pic.Data); err != nil {
				return err
			}
			out(pic)
		}
	}
	return ffmpeg.Start(ctx, ffmpeg.Config{Name: "compose-decode", Args: videoDecoderArgs(w, h, fill), Encode: enc, Decode: dec,
		Queue: decoderQueue, Log: log, OnRestart: onRestart})
}

// startAudioDecoder runs one participant's Opus decoder: Ogg in, 48 kHz
// stereo s16le out to q.
func startAudioDecoder(ctx context.Context, log *slog.Logger, q *audioQueue) (*ffmpeg.Converter, error) {
	args := append(ffmpeg.LowDelay(), "-fflags", "+nobuffer+flush_packets", "-f", "ogg", "-i", "pipe:0",
		"-f", "s16le", "-ar", "48000", "-ac", "2", "-flush_packets", "1", "pipe:1")
	enc := func(w io.Writer) (func(ffmpeg.Frame) error, error) {
		ow, err := oggwriter.NewWith(w, SampleRate, AudioChannels)
		if err != nil {
			return nil, err
		}
		var seq uint16
		var first time.Duration
		started := false
		return func(f ffmpeg.Frame) error {
			if !started {
				first, started = f.PTS, true
			}
			seq++
			ts := uint32((f.PTS - first) * SampleRate / time.Second)
			return ow.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: f.Data})
		}, nil
	}
	dec := func(r *bufio.Reader) error {
		buf := make([]byte, 240*frameBytes) // 5 ms: the mixer's queue sees it soon
		for {
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			q.Write(buf)
		}
	}
	return ffmpeg.Start(ctx, ffmpeg.Config{Name: "compose-audio-decode", Args: args, Encode: enc, Decode: dec, Queue: 100, Log: log})
}
