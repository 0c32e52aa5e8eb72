package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// thumbTimeout bounds one ffmpeg run that decodes a keyframe to JPEG.
const thumbTimeout = 5 * time.Second

// thumbHeight is the height thumbnails are scaled to (at most): the
// console shows them small.
const thumbHeight = 360

// Thumbnails keeps a JPEG of every live stream's picture, taken from a
// keyframe every interval by a one-shot ffmpeg, and serves it at
// /api/video/v1/{channelId}/thumb.jpg.
type Thumbnails struct {
	interval time.Duration
	log      *slog.Logger

	mu     sync.RWMutex
	latest map[string]thumb // by channel id
}

type thumb struct {
	jpeg     []byte
	at       time.Time
	streamID string
}

var _ live.Consumer = (*Thumbnails)(nil)

// NewThumbnails returns the thumbnail consumer; interval 0 takes none.
func NewThumbnails(interval time.Duration, log *slog.Logger) *Thumbnails {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Thumbnails{interval: interval, log: log.With("component", "thumbnails"), latest: make(map[string]thumb)}
}

// Attach implements live.Consumer.
func (t *Thumbnails) Attach(st *live.Stream) (detach func()) {
	var video *stream.Track
	for _, tr := range st.Hub.Tracks() {
		if _, ok := tr.Codec.(*stream.H264); ok {
			video = tr
			break
		}
	}
	if t.interval <= 0 || video == nil {
		return func() {}
	}
	if _, err := FFmpeg(); err != nil {
		t.log.Info("no thumbnails", "reason", err.Error())
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := st.Hub.NewReader(256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.run(ctx, st, video, r)
	}()
	return func() {
		cancel()
		r.Close()
		<-done
		t.mu.Lock()
		if t.latest[st.Channel.ID].streamID == st.StreamID {
			delete(t.latest, st.Channel.ID)
		}
		t.mu.Unlock()
	}
}

// run takes a thumbnail at the first keyframe and then at the first one
// after each interval. Decoding runs inline: a keyframe every interval is
// little work, and a reader that falls behind meanwhile only skips frames
// it would not use.
func (t *Thumbnails) run(ctx context.Context, st *live.Stream, video *stream.Track, r *stream.Reader) {
	log := t.log.With("channel", st.Channel.ARN)
	var last time.Time
	for {
		u, err := r.Read(ctx)
		if err != nil {
			return
		}
		if u.Track != video || !u.RandomAccess || time.Since(last) < t.interval {
			continue
		}
		last = time.Now()
		jpeg, err := KeyframeJPEG(ctx, u.Payload, thumbHeight)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("thumbnail", "err", err)
			}
			continue
		}
		t.mu.Lock()
		t.latest[st.Channel.ID] = thumb{jpeg: jpeg, at: last, streamID: st.StreamID}
		t.mu.Unlock()
	}
}

// KeyframeJPEG decodes one H.264 keyframe (with its parameter sets, as the
// hub's units carry them) to a JPEG at most maxHeight high (0: as it is).
func KeyframeJPEG(ctx context.Context, au [][]byte, maxHeight int) ([]byte, error) {
	bin, err := FFmpeg()
	if err != nil {
		return nil, err
	}
	annexB, err := h264.AnnexB(au).Marshal()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, thumbTimeout)
	defer cancel()
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-f", "h264", "-i", "pipe:0", "-frames:v", "1"}
	if maxHeight > 0 {
		args = append(args, "-vf", "scale=-2:'min("+strconv.Itoa(maxHeight)+",ih)'")
	}
	cmd := exec.CommandContext(ctx, bin, append(args, "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", "pipe:1")...)
	cmd.Stdin = bytes.NewReader(annexB)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("transcode: thumbnail: %w: %s", err, stderr.String())
	}
	if out.Len() < 2 || out.Bytes()[0] != 0xFF || out.Bytes()[1] != 0xD8 {
		return nil, errors.New("transcode: thumbnail: ffmpeg wrote no JPEG")
	}
	return out.Bytes(), nil
}

// ServeHTTP serves GET /api/video/v1/{channelId}/thumb.jpg: the latest
// thumbnail of the channel's live stream, 404 when it is not live (or has
// none yet).
func (t *Thumbnails) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	t.mu.RLock()
	th, ok := t.latest[r.PathValue("channelId")]
	t.mu.RUnlock()
	if !ok {
		w.Header().Set("Cache-Control", "no-cache")
		http.Error(w, "no thumbnail: the channel is not live", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "thumb.jpg", th.at, bytes.NewReader(th.jpeg))
}
