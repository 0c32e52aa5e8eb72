package ffmpeg

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// VP8ToH264 transcodes VP8 frames (a WebRTC publisher that offers no
// H.264) to H.264 Constrained Baseline without B-frames, which HLS players
// and every WebRTC viewer decode. Frames keep their media time (ffmpeg's
// -copyts through IVF in and MPEG-TS out); a keyframe in is a keyframe out,
// so segments start where the publisher's keyframes are. width and height
// are the first keyframe's.
func VP8ToH264(ctx context.Context, width, height int, log *slog.Logger, out func(Frame)) (*Converter, error) {
	args := append(LowDelay(), "-copyts", "-f", "ivf", "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-force_key_frames", "source", "-fps_mode", "passthrough",
		// With passthrough no frame is added or dropped: -r only names the
		// rate the SPS announces (HLS's FRAME-RATE; WebRTC is variable).
		"-r", "30", "-threads", "2",
		"-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "pipe:1")
	enc := func(w io.Writer) (func(Frame) error, error) { return IVFWriter(w, "VP80", width, height) }
	dec := func(r *bufio.Reader) error {
		tr := &mpegts.Reader{R: r}
		if err := tr.Initialize(); err != nil {
			return fmt.Errorf("ffmpeg: VP8 to H.264 output: %w", err)
		}
		var clock TSClock
		for _, t := range tr.Tracks() {
			if _, ok := t.Codec.(*tscodecs.H264); ok {
				tr.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
					p, _ := clock.Times(pts, dts)
					out(Frame{PTS: p, NALUs: au})
					return nil
				})
			}
		}
		for {
			if err := tr.Read(); err != nil {
				return err
			}
		}
	}
	return Start(ctx, Config{Name: "vp8-to-h264", Args: args, Encode: enc, Decode: dec, Log: log})
}

// IVFWriter writes IVF's 32-byte file header (fourcc "VP80" or "H264",
// time base 1/90000) to w and returns the writer of its frames: a 12-byte
// header (size, timestamp), then the frame. ffmpeg reads any codec's
// frames with their timestamps from it on a pipe.
func IVFWriter(w io.Writer, fourcc string, width, height int) (func(Frame) error, error) {
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], fourcc)
	binary.LittleEndian.PutUint16(hdr[12:], uint16(width))
	binary.LittleEndian.PutUint16(hdr[14:], uint16(height))
	binary.LittleEndian.PutUint32(hdr[16:], 90000) // time base denominator
	binary.LittleEndian.PutUint32(hdr[20:], 1)     // numerator
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	fh := make([]byte, 12)
	return func(f Frame) error {
		binary.LittleEndian.PutUint32(fh, uint32(len(f.Data)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(f.PTS*90000/time.Second))
		if _, err := w.Write(fh); err != nil {
			return err
		}
		_, err := w.Write(f.Data)
		return err
	}, nil
}
