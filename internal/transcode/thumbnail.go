package transcode

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// thumbHeight is the height thumbnails are scaled to (at most): the
// console shows them small.
const thumbHeight = 360

// Thumbnails serves a JPEG of every live stream's picture at
// /api/video/v1/{channelId}/thumb.jpg. Each stream's latest keyframe is
// kept (the hub's own bytes, no copy); a request decodes it with a one-shot
// ffmpeg when the JPEG it has is older than interval. So a thumbnail costs
// nothing until someone looks: 100 streams taking one every 10 s whether
// watched or not cost half a core (docs/benchmarks.md).
type Thumbnails struct {
	interval time.Duration
	log      *slog.Logger

	mu     sync.RWMutex
	latest map[string]*thumb // by channel id
}

// thumb is one live stream's thumbnail state.
type thumb struct {
	arn string
	key atomic.Pointer[keyframe] // the newest keyframe seen

	mu     sync.Mutex // one decode at a time; later requests take its result
	jpeg   []byte
	jpegAt time.Time // when the keyframe it shows arrived
}

type keyframe struct {
	au [][]byte
	at time.Time
}

var _ live.Consumer = (*Thumbnails)(nil)

// NewThumbnails returns the thumbnail consumer; interval 0 takes none.
func NewThumbnails(interval time.Duration, log *slog.Logger) *Thumbnails {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Thumbnails{interval: interval, log: log.With("component", "thumbnails"), latest: make(map[string]*thumb)}
}

// Attach implements live.Consumer.
func (t *Thumbnails) Attach(st *live.Stream) (detach func(), err error) {
	var video *stream.Track
	for _, tr := range st.Hub.Tracks() {
		if _, ok := tr.Codec.(*stream.H264); ok {
			video = tr
			break
		}
	}
	if t.interval <= 0 || video == nil {
		return nil, nil
	}
	if _, err := ffmpeg.Path(); err != nil {
		return nil, fmt.Errorf("transcode: no thumbnails: %w", err)
	}
	th := &thumb{arn: st.Channel.ARN}
	t.mu.Lock()
	t.latest[st.Channel.ID] = th
	t.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	r := st.NewReader("thumbnails", st.Hub, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			u, err := r.Read(ctx)
			if err != nil {
				return
			}
			if u.Track == video && u.RandomAccess {
				th.key.Store(&keyframe{au: u.Payload, at: time.Now()})
			}
		}
	}()
	return func() {
		cancel()
		r.Close()
		<-done
		t.mu.Lock()
		if t.latest[st.Channel.ID] == th {
			delete(t.latest, st.Channel.ID)
		}
		t.mu.Unlock()
	}, nil
}

// picture returns th's JPEG, decoding the newest keyframe if the JPEG is
// older than the interval.
func (t *Thumbnails) picture(ctx context.Context, th *thumb) ([]byte, time.Time, error) {
	th.mu.Lock()
	defer th.mu.Unlock()
	k := th.key.Load()
	if k == nil || (th.jpeg != nil && (time.Since(th.jpegAt) < t.interval || !k.at.After(th.jpegAt))) {
		return th.jpeg, th.jpegAt, nil
	}
	jpeg, err := ffmpeg.KeyframeJPEG(ctx, k.au, thumbHeight)
	if err != nil {
		if th.jpeg != nil {
			// An older picture beats none.
			t.log.Warn("thumbnail", "channel", th.arn, "err", err)
			return th.jpeg, th.jpegAt, nil
		}
		return nil, time.Time{}, err
	}
	th.jpeg, th.jpegAt = jpeg, k.at
	return jpeg, k.at, nil
}

// ServeHTTP serves GET /api/video/v1/{channelId}/thumb.jpg: the channel's
// live picture, 404 when it is not live (or no keyframe came yet).
func (t *Thumbnails) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	t.mu.RLock()
	th := t.latest[r.PathValue("channelId")]
	t.mu.RUnlock()
	var jpeg []byte
	var at time.Time
	if th != nil {
		var err error
		if jpeg, at, err = t.picture(r.Context(), th); err != nil {
			if r.Context().Err() == nil {
				t.log.Warn("thumbnail", "channel", th.arn, "err", err)
			}
			http.Error(w, "thumbnail unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	if jpeg == nil {
		w.Header().Set("Cache-Control", "no-cache")
		http.Error(w, "no thumbnail: the channel is not live", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "thumb.jpg", at, bytes.NewReader(jpeg))
}
