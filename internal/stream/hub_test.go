package stream

import (
	"context"
	"errors"
	"strconv"
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
func BenchmarkHubWrite(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run("readers="+strconv.Itoa(n), func(b *testing.B) {
			tr := &Track{Codec: &H264{}}
			h := NewHub([]*Track{tr})
			const batch = 64
			readers := make([]*Reader, n)
			for i := range readers {
				readers[i] = h.NewReader(batch)
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
			if s := h.Stats(); s.DroppedReader != 0 {
				b.Fatalf("%d readers dropped", s.DroppedReader)
			}
			h.Close()
		})
	}
}
