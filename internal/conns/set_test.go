package conns

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// item counts its Close calls, and removes itself from its set on Close
// as a session does.
type item struct {
	set    *Set[string, *item]
	key    string
	closes atomic.Int32
}

func (i *item) Close() error {
	i.closes.Add(1)
	i.set.Remove(i.key)
	return nil
}

func TestSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, s *Set[string, *item])
	}{
		{"add, get, remove", func(t *testing.T, s *Set[string, *item]) {
			a := &item{set: s, key: "a"}
			if !s.Add("a", a) {
				t.Fatal("Add to an open set failed")
			}
			if got, ok := s.Get("a"); !ok || got != a {
				t.Fatalf("Get = %v %v", got, ok)
			}
			s.Remove("a")
			if _, ok := s.Get("a"); ok {
				t.Fatal("Get after Remove found it")
			}
		}},
		{"Close closes every item once, outside the lock, and waits", func(t *testing.T, s *Set[string, *item]) {
			a, b := &item{set: s, key: "a"}, &item{set: s, key: "b"}
			s.Add("a", a)
			s.Add("b", b)
			var finished atomic.Bool
			stop := make(chan struct{})
			if !s.Go(func() {
				<-s.Context().Done() // a connection's work ends with the context
				<-stop
				finished.Store(true)
			}) {
				t.Fatal("Go on an open set failed")
			}
			closed := make(chan struct{})
			go func() { s.Close(); close(closed) }()
			select {
			case <-closed:
				t.Fatal("Close returned while a goroutine ran")
			case <-time.After(20 * time.Millisecond):
			}
			close(stop)
			<-closed
			if !finished.Load() || a.closes.Load() != 1 || b.closes.Load() != 1 {
				t.Fatalf("after Close: finished %v, closes %d %d", finished.Load(), a.closes.Load(), b.closes.Load())
			}
			s.Close() // idempotent
			if a.closes.Load() != 1 {
				t.Fatal("a second Close closed the items again")
			}
		}},
		{"nothing joins a closed set", func(t *testing.T, s *Set[string, *item]) {
			s.Close()
			if s.Add("a", &item{set: s, key: "a"}) || s.Track() || s.Go(func() { t.Error("ran on a closed set") }) {
				t.Fatal("joined a closed set")
			}
			if !s.Closed() || s.Context().Err() == nil {
				t.Fatal("closed set not marked closed")
			}
		}},
		{"a connection broken by the shutdown ended routinely", func(t *testing.T, s *Set[string, *item]) {
			log := slog.New(slog.DiscardHandler)
			if o := s.End(log, io.EOF); o != PeerGone {
				t.Fatalf("EOF while open: %v", o)
			}
			s.Close()
			if o := s.End(log, io.EOF); o != Routine {
				t.Fatalf("EOF while closing: %v", o)
			}
			if o := s.End(log, Refuse(io.ErrShortBuffer)); o != Refused {
				t.Fatalf("a refusal while closing: %v", o)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, NewSet[string, *item]())
		})
	}
}
