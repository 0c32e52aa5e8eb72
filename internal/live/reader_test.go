package live

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// A consumer that cannot serve a stream costs one session event, whatever
// it failed with; one that runs degraded is still detached at the end.
func TestConsumerFailures(t *testing.T) {
	t.Parallel()
	failure := ivs.ChannelEvent(ivs.EventTypeRecording, ivs.Channel{}, "", time.Now())
	failure.Detail.RecordingStatus = ivs.RecordingStartFailure
	cases := []struct {
		name     string
		c        *fakeConsumer
		want     []string
		detached int
	}{
		{"fine", &fakeConsumer{}, nil, 1},
		{"plain error", &fakeConsumer{err: errors.New("hls: no track HLS can carry"), none: true},
			[]string{ivs.EventConsumerFailure + "/"}, 0},
		{"named event", &fakeConsumer{err: &Failure{Event: failure, Err: errors.New("record: not ACTIVE")}, none: true},
			[]string{ivs.RecordingStartFailure + "/"}, 0},
		{"degraded", &fakeConsumer{err: errors.New("record: journal: read-only")},
			[]string{ivs.EventConsumerFailure + "/"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, f, _ := newRegistry()
			r.AddConsumer(tc.c)
			p, err := r.Claim(context.Background(), "key-a", ConnInfo{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Start(context.Background(), tracks(), Metadata{}); err != nil {
				t.Fatalf("a consumer's failure failed the start: %v", err)
			}
			p.Close()
			if got := f.emitted(); !slices.Equal(got, tc.want) {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
			if tc.c.detached != tc.detached {
				t.Fatalf("detached %d times, want %d", tc.c.detached, tc.detached)
			}
		})
	}
}

// A consumer's reader that falls a queue behind resumes at the next
// keyframe; each resync is counted, and one event reports the first of a
// minute's.
func TestReaderResync(t *testing.T) {
	t.Parallel()
	r, f, _ := newRegistry()
	p, err := r.Claim(context.Background(), "key-a", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := p.Start(context.Background(), tracks(), Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := r.Get("a")
	rd := st.NewReader("hls", hub, 2)
	write := func(key bool) *stream.Unit {
		u := &stream.Unit{Track: hub.Tracks()[0], NTP: time.Now(), Payload: [][]byte{{1}}, RandomAccess: key}
		hub.Write(u)
		return u
	}
	read := func() (*stream.Unit, int) {
		u, err := rd.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return u, rd.Skipped()
	}
	for range 2 { // two episodes, two units lost in each
		write(true)
		write(false)
		write(false) // no room: lost
		write(false) // lost until a keyframe
		read()
		read()
		k := write(true)
		if u, n := read(); u != k || n < 1 {
			t.Fatalf("read %p skipped %d, want the keyframe %p after a gap", u, n, k)
		}
	}
	want := []ResyncCount{{Consumer: "hls", Resyncs: 2, SkippedUnits: 4}}
	if got := r.Resyncs(); !slices.Equal(got, want) {
		t.Fatalf("Resyncs() = %+v, want %+v", got, want)
	}
	rd.Close()
	p.Close() // waits for the event
	if got := f.emitted(); !slices.Equal(got, []string{ivs.EventReaderResync + "/hls"}) {
		t.Fatalf("events %q, want one Reader Resync of hls", got)
	}
}
