package hls

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"path"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// TestMuxerSnapshot checks the state gohlslib patch 9 exposes, which the
// server answers from: a snapshot per media playlist that stays the same
// object until a part or segment completes, a Changed channel closed then
// and at Close, the preload hint's part, and the finished files.
func TestMuxerSnapshot(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	tr := &gohlslib.Track{Codec: &codecs.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hm := &gohlslib.Muxer{Tracks: []*gohlslib.Track{tr}, Variant: gohlslib.MuxerVariantLowLatency,
		SegmentCount: minLowLatencySegments, SegmentMinDuration: time.Second, PartMinDuration: 100 * time.Millisecond}
	if err := hm.Start(); err != nil {
		t.Fatal(err)
	}
	f := 0
	write := func() {
		if err := hm.WriteH264(tr, time.Now(), int64(f)*90000/streamtest.FPS, v.AUs[f%len(v.AUs)]); err != nil {
			t.Fatal(err)
		}
		f++
	}
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}

	if _, err := hm.MediaPlaylist("audio2"); !errors.Is(err, gohlslib.ErrNoMediaPlaylist) {
		t.Fatalf("a media playlist of no stream: %v", err)
	}
	first, err := hm.MediaPlaylist("video1")
	if err != nil || first.Playlist != nil {
		t.Fatalf("before any segment: %v, playlist %q", err, first.Playlist)
	}
	if pl, err := hm.MultivariantPlaylist(); err != nil || pl != nil {
		t.Fatalf("multivariant before any segment: %v %v", pl, err)
	}
	// Until the first segment is complete, only parts are; the first
	// that completes closes the snapshot's Changed.
	for i := 0; !closed(first.Changed); i++ {
		if i == 300 {
			t.Fatal("the first snapshot's Changed is open after 300 frames")
		}
		write()
	}
	for {
		if pl, _ := hm.MultivariantPlaylist(); pl != nil {
			break
		}
		write()
	}

	snap, err := hm.MediaPlaylist("video1")
	if err != nil || snap.Playlist == nil || snap.Delta == nil || snap.CacheControl != "no-cache" {
		t.Fatalf("snapshot: %v %+v", err, snap)
	}
	// Without a change, a snapshot is the same playlist, waiting on the
	// same change.
	if again, _ := hm.MediaPlaylist("video1"); again.Changed != snap.Changed || !bytes.Equal(again.Playlist, snap.Playlist) ||
		!bytes.Equal(again.Delta, snap.Delta) || again.NextPart != snap.NextPart || closed(snap.Changed) {
		t.Fatal("a new snapshot without a change")
	}
	pl := mustMedia(t, snap.Playlist)
	if uint64(pl.MediaSequence) != snap.MediaSequence ||
		snap.NextPart.MSN != uint64(pl.MediaSequence+len(pl.Segments)) || snap.NextPart.Index != uint64(len(pl.Parts)) {
		t.Fatalf("snapshot %+v of\n%s", snap, snap.Playlist)
	}
	if sid, id, ok := partName(path.Base(pl.PreloadHint.URI)); !ok || sid != "video1" || id != snap.NextPart.ID {
		t.Fatalf("preload hint %s, snapshot's part %d", pl.PreloadHint.URI, snap.NextPart.ID)
	}
	if _, ok := hm.File(pl.PreloadHint.URI); ok {
		t.Fatal("the preload-hinted part is a file before it is complete")
	}

	// Files: the same bytes and headers as Handle's.
	last := pl.Segments[len(pl.Segments)-1]
	for _, name := range []string{pl.Map.URI, last.URI, last.Parts[0].URI} {
		file, ok := hm.File(name)
		if !ok {
			t.Fatalf("no file %s", name)
		}
		r, err := file.Reader()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		want := handle(hm, http.MethodGet, name, "")
		if err != nil || !bytes.Equal(b, want.body) || int64(len(b)) != file.Size ||
			file.ContentType != want.header.Get("Content-Type") || file.CacheControl != want.header.Get("Cache-Control") {
			t.Fatalf("file %s: %d bytes (size %d, %v), %+v; Handle: %d bytes %v", name, len(b), file.Size, err, file, len(want.body), want.header)
		}
	}

	// The hinted part completes: a change, a new snapshot past it.
	for !closed(snap.Changed) {
		write()
	}
	next, err := hm.MediaPlaylist("video1")
	if err != nil || next == snap || next.NextPart.ID <= snap.NextPart.ID {
		t.Fatalf("after a change: %v, part %d then %d", err, snap.NextPart.ID, next.NextPart.ID)
	}
	if _, ok := hm.File(pl.PreloadHint.URI); !ok {
		t.Fatal("the hinted part is no file once complete")
	}

	hm.Close()
	if !closed(next.Changed) {
		t.Fatal("Changed open after Close")
	}
	if _, err := hm.MediaPlaylist("video1"); !errors.Is(err, gohlslib.ErrMuxerClosed) {
		t.Fatalf("snapshot after Close: %v", err)
	}
	if _, err := hm.MultivariantPlaylist(); !errors.Is(err, gohlslib.ErrMuxerClosed) {
		t.Fatalf("multivariant after Close: %v", err)
	}
}
