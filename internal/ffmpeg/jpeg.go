package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// jpegTimeout bounds one ffmpeg run that decodes a keyframe to JPEG.
const jpegTimeout = 5 * time.Second

// KeyframeJPEG decodes one H.264 keyframe (with its parameter sets, as the
// hub's units carry them) to a JPEG at most maxHeight high (0: as it is).
// Thumbnails of live channels and of recordings are made with it.
func KeyframeJPEG(ctx context.Context, au [][]byte, maxHeight int) ([]byte, error) {
	annexB, err := h264.AnnexB(au).Marshal()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, jpegTimeout)
	defer cancel()
	args := append(append([]string{}, quiet...), "-f", "h264", "-i", "pipe:0", "-frames:v", "1")
	if maxHeight > 0 {
		args = append(args, "-vf", "scale=-2:'min("+strconv.Itoa(maxHeight)+",ih)'")
	}
	out, err := Run(ctx, bytes.NewReader(annexB), append(args, "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", "pipe:1")...)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: keyframe JPEG: %w", err)
	}
	if len(out) < 2 || out[0] != 0xFF || out[1] != 0xD8 {
		return nil, errors.New("ffmpeg: keyframe JPEG: ffmpeg wrote no JPEG")
	}
	return out, nil
}
