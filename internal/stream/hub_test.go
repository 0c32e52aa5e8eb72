package stream

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func unit(tr *Track, i int) *Unit {
	return &Unit{Track: tr, PTS: time.Duration(i) * time.Millisecond, NTP: time.Now(), Payload: [][]byte{{byte(i)}}}
}

func TestHubFanOut(t *testing.T) {
	t.Parallel()
	tr := &Track{Codec: &H264{}, ClockRate: 90000}
	h := NewHub([]*Track{tr})
	readers := []*Reader{h.NewReader(16), h.NewReader(16)}
	var sent []*Unit
	for i := range 10 {
		u := unit(tr, i)
		sent = append(sent, u)
		h.Write(u)
	}
	h.Close()
	for ri, r := range readers {
		for i := range 10 {
			u, err := r.Read(context.Background())
			if err != nil {
				t.Fatalf("reader %d unit %d: %v", ri, i, err)
			}
			// Shared, not copied: every reader gets the writer's pointer.
			if u != sent[i] {
				t.Fatalf("reader %d unit %d is a different object", ri, i)
			}
		}
		if _, err := r.Read(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("reader %d after close: %v, want ErrClosed", ri, err)
		}
	}
	if s := h.Stats(); s.UnitsIn != 10 || s.BytesIn != 10 || s.Readers != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestHubDropsSlowReader(t *testing.T) {
	t.Parallel()
	tr := &Track{Codec: &AAC{}, ClockRate: 48000}
	h := NewHub([]*Track{tr})
	slow := h.NewReader(4)
	fast := h.NewReader(64)
	for i := range 10 {
		h.Write(unit(tr, i))
	}
	// The slow reader gets what fit in its queue, then the drop.
	for i := range 4 {
		if _, err := slow.Read(context.Background()); err != nil {
			t.Fatalf("queued unit %d: %v", i, err)
		}
	}
	if _, err := slow.Read(context.Background()); !errors.Is(err, ErrSlowReader) {
		t.Fatalf("slow reader: %v, want ErrSlowReader", err)
	}
	// The fast reader is not disturbed.
	for i := range 10 {
		if _, err := fast.Read(context.Background()); err != nil {
			t.Fatalf("fast reader unit %d: %v", i, err)
		}
	}
	if s := h.Stats(); s.DroppedReader != 1 || s.Readers != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestHubResync plays a script against one Resync reader: upper-case
// letters are units of the first video track (K a keyframe, P not) and
// audio (A), lower-case of a second video track (k, p), and a digit reads
// that many units. Each unit read is noted with its position in the script
// and, where the reader resumed, the units it lost before it.
func TestHubResync(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		queue   int
		tracks  string // V video, A audio, in hub order
		script  string
		want    string
		resyncs uint64
	}{
		{"nothing lost", 4, "VA", "KPA3PA2", "K0 P1 A2 P4 A5", 0},
		{"stalls, then resumes at the keyframe", 3, "VA", "KPAPAP3APKAP", "K0 P1 A2 K9(5) A10 P11", 1},
		{"a keyframe with no room is lost too", 1, "VA", "KPK1PK", "K0 K5(3)", 1},
		{"falls behind again after resuming", 1, "VA", "KP1KP1PK", "K0 K3(1) K7(2)", 2},
		{"audio only resumes at the next unit", 2, "A", "AAAA2AA", "A0 A1 A5(2) A6", 1},
		// One gap is told once, where the first track resumes: the second
		// video track's loss (p11) is the hub's count alone.
		{"each video track resumes at its own keyframe", 2, "VVA", "KkP2pAK1A1P1pk", "K0 k1 K6(3) A8 P10 k13", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var video []*Track
			var audio *Track
			var tracks []*Track
			for _, c := range tc.tracks {
				if c == 'V' {
					tr := &Track{Codec: &H264{}, ClockRate: 90000}
					video = append(video, tr)
					tracks = append(tracks, tr)
				} else {
					audio = &Track{Codec: &AAC{}, ClockRate: 48000}
					tracks = append(tracks, audio)
				}
			}
			h := NewHub(tracks)
			r := h.NewReader(tc.queue, Resync)
			names := map[*Unit]string{}
			var got []string
			read := func() {
				u, err := r.Read(context.Background())
				if err != nil {
					t.Fatalf("read after %v: %v", got, err)
				}
				s := names[u]
				if n := r.Skipped(); n > 0 {
					s += "(" + strconv.Itoa(n) + ")"
				}
				got = append(got, s)
			}
			for i, c := range tc.script {
				if c >= '0' && c <= '9' {
					for range int(c - '0') {
						read()
					}
					continue
				}
				u := unit(audio, i)
				switch c {
				case 'K', 'P':
					u.Track, u.RandomAccess = video[0], c == 'K'
				case 'k', 'p':
					u.Track, u.RandomAccess = video[1], c == 'k'
				}
				names[u] = string(c) + strconv.Itoa(i)
				h.Write(u)
			}
			for r.Len() > 0 {
				read()
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Fatalf("read %q, want %q", s, tc.want)
			}
			s := h.Stats()
			if s.Resyncs != tc.resyncs || s.DroppedReader != 0 || s.Readers != 1 {
				t.Fatalf("stats = %+v, want %d resyncs and the reader kept", s, tc.resyncs)
			}
			// Every unit written and not read was lost, and counted.
			if written := len(names); s.SkippedUnits != uint64(written-len(got)) {
				t.Fatalf("stats count %d units skipped, want %d", s.SkippedUnits, written-len(got))
			}
		})
	}
}

// A viewer's reader beside a resyncing one is still dropped when it falls
// behind, and the resyncing one goes on.
func TestHubResyncKeepsDroppingViewers(t *testing.T) {
	t.Parallel()
	tr := &Track{Codec: &H264{}, ClockRate: 90000}
	h := NewHub([]*Track{tr})
	viewer := h.NewReader(2)
	server := h.NewReader(2, Resync)
	for i := range 6 {
		u := unit(tr, i)
		u.RandomAccess = i%3 == 0
		h.Write(u)
	}
	for range 2 {
		if _, err := viewer.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := viewer.Read(context.Background()); !errors.Is(err, ErrSlowReader) {
		t.Fatalf("viewer: %v, want ErrSlowReader", err)
	}
	for range 2 {
		if _, err := server.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	u := unit(tr, 6)
	u.RandomAccess = true
	h.Write(u)
	if got, err := server.Read(context.Background()); err != nil || got != u || server.Skipped() != 4 {
		t.Fatalf("server reader: %v %v skipped %d, want the keyframe after 4 lost", got, err, server.Skipped())
	}
	if s := h.Stats(); s.DroppedReader != 1 || s.Readers != 1 || s.Resyncs != 1 || s.SkippedUnits != 4 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestReaderCloseAndContext(t *testing.T) {
	t.Parallel()
	h := NewHub([]*Track{{Codec: &H264{}}})
	r := h.NewReader(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with cancelled ctx: %v", err)
	}
	r.Close()
	r.Close() // idempotent
	if _, err := r.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	h.Close()
	late := h.NewReader(1)
	if _, err := late.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("reader of a closed hub: %v", err)
	}
}

func TestHubConcurrent(t *testing.T) {
	t.Parallel()
	tr := &Track{Codec: &H264{}}
	h := NewHub([]*Track{tr})
	var wg sync.WaitGroup
	for range 8 {
		r := h.NewReader(1024)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := r.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	for i := range 1000 {
		h.Write(unit(tr, i))
	}
	h.Close()
	wg.Wait()
}

// BenchmarkHubWrite measures handing one unit to N readers and their
// taking it: the data path's per-viewer work is one channel send and receive
// of a shared pointer. Readers drain in the benchmark's goroutine so that
// none is dropped and every unit reaches every reader.
func BenchmarkHubWrite(b *testing.B) { benchHubWrite(b) }

// BenchmarkHubWriteResync is BenchmarkHubWrite with Resync readers (the
// server-side consumers'), which never fall behind here either.
func BenchmarkHubWriteResync(b *testing.B) { benchHubWrite(b, Resync) }

func benchHubWrite(b *testing.B, opts ...ReaderOption) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run("readers="+strconv.Itoa(n), func(b *testing.B) {
			tr := &Track{Codec: &H264{}}
			h := NewHub([]*Track{tr})
			const batch = 64
			readers := make([]*Reader, n)
			for i := range readers {
				readers[i] = h.NewReader(batch, opts...)
			}
			u := &Unit{Track: tr, NTP: time.Now(), Payload: [][]byte{make([]byte, 4096)}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				h.Write(u)
				if i%batch == batch-1 {
					for _, r := range readers {
						for len(r.queue) > 0 {
							<-r.queue
						}
					}
				}
			}
			b.StopTimer()
			if s := h.Stats(); s.DroppedReader != 0 || s.Resyncs != 0 {
				b.Fatalf("%d readers dropped, %d resyncs", s.DroppedReader, s.Resyncs)
			}
			h.Close()
		})
	}
}
