package hls

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/asticode/go-astits"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
)

func TestID3Text(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		text []byte
	}{
		{"short", []byte(`{"question":"1+1?"}`)},
		{"1 KB, sizes over 127 need syncsafe", bytes.Repeat([]byte("é"), 512)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tag := id3Text(tc.text)
			if !bytes.HasPrefix(tag, []byte("ID3\x04\x00\x00")) {
				t.Fatalf("header % x", tag[:6])
			}
			size := syncsafe(tag[6:10])
			if size != len(tag)-10 {
				t.Fatalf("tag size %d, want %d", size, len(tag)-10)
			}
			f := tag[10:]
			if string(f[:4]) != "TXXX" || syncsafe(f[4:8]) != len(f)-10 || f[10] != 3 || f[11] != 0 {
				t.Fatalf("frame % x", f[:12])
			}
			if !bytes.Equal(f[12:], tc.text) {
				t.Fatal("text differs")
			}
		})
	}
}

func syncsafe(b []byte) int {
	return int(b[0])<<21 | int(b[1])<<14 | int(b[2])<<7 | int(b[3])
}

// PutMetadata's payload comes out in the next part of the video playlist,
// in an emsg box before the moof, as an ID3 TXXX frame, and in the segment
// holding that part; each payload gets its own event id.
func TestTimedMetadataInParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, ivs.ContainerTS, nil)
	e.writeUntil(2 * time.Second)
	e.settled(t, "video1_stream.m3u8")
	for _, text := range []string{`{"poll":"A or B?"}`, "second"} {
		if err := e.st.PutMetadata([]byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	e.writeUntil(4 * time.Second)
	media := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
	var found []emsg
	var inSegment bool
	for _, seg := range media.Segments {
		segBody := e.get(t, channelDir+seg.URI).body
		for _, p := range seg.Parts {
			body := e.get(t, channelDir+p.URI).body
			boxes := emsgBoxes(t, body)
			found = append(found, boxes...)
			if len(boxes) > 0 && bytes.Contains(segBody, body) {
				inSegment = true
			}
		}
	}
	if len(found) != 2 {
		t.Fatalf("%d emsg boxes, want 2", len(found))
	}
	for i, want := range []string{`{"poll":"A or B?"}`, "second"} {
		m := found[i]
		if m.scheme != "https://aomedia.org/emsg/ID3" || m.timescale != 90000 || m.time < uint64(2*90000)-9000 ||
			!bytes.Equal(m.data, id3Text([]byte(want))) {
			t.Errorf("emsg %d: %+v", i, m)
		}
	}
	if found[0].id == found[1].id {
		t.Errorf("both events have id %d", found[0].id)
	}
	if !inSegment {
		t.Errorf("the segment does not hold the part with the metadata")
	}
}

// NORMAL channels in MPEG-TS carry PutMetadata's payload as IVS's do: an
// ID3 tag in a PES (private_stream_1, with a PTS) of a stream of type 0x15
// whose metadata_descriptor says 'ID3 ', listed in the PMT; every
// segment's ID3 stream has a tag. fMP4 HLS does not carry it, and
// PutMetadata says so.
func TestTimedMetadataInTS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyNormal, ivs.ContainerTS, nil)
	e.writeUntil(2 * time.Second)
	e.settled(t, "main_stream.m3u8")
	const text = `{"poll":"in TS"}`
	if err := e.st.PutMetadata([]byte(text)); err != nil {
		t.Fatal(err)
	}
	e.writeUntil(6 * time.Second)
	media := mustMedia(t, e.settled(t, "main_stream.m3u8"))
	tags, segs := id3InTS(t, e, channelDir, media)
	for _, s := range segs {
		if !isSegmentMetadata(s.first) {
			t.Fatalf("segment %s starts its ID3 stream with %q", s.uri, s.first)
		}
	}
	if len(tags) != 1 || !bytes.Equal(tags[0], id3Text([]byte(text))) {
		t.Fatalf("%d ID3 tags in the playlist's segments, want the one put: %q", len(tags), tags)
	}

	f := newEnv(t, ivs.LatencyNormal, ivs.ContainerFMP4, nil)
	if err := f.st.PutMetadata([]byte("x")); !errors.Is(err, live.ErrNoMetadataReader) {
		t.Fatalf("PutMetadata on fMP4 HLS: %v", err)
	}
}

type emsg struct {
	timescale uint32
	time      uint64
	id        uint32
	scheme    string
	data      []byte
}

// emsgBoxes reads the top-level emsg boxes (version 1) before a part's moof.
func emsgBoxes(t *testing.T, b []byte) []emsg {
	t.Helper()
	var out []emsg
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			t.Fatalf("box size %d of %d bytes", size, len(b))
		}
		if string(b[4:8]) == "emsg" {
			x := b[8:size]
			if x[0] != 1 {
				t.Fatalf("emsg version %d", x[0])
			}
			m := emsg{timescale: binary.BigEndian.Uint32(x[4:]), time: binary.BigEndian.Uint64(x[8:]), id: binary.BigEndian.Uint32(x[20:])}
			rest := x[24:]
			i := bytes.IndexByte(rest, 0)
			m.scheme = string(rest[:i])
			rest = rest[i+1:]
			rest = rest[bytes.IndexByte(rest, 0)+1:] // value
			m.data = rest
			out = append(out, m)
		}
		b = b[size:]
	}
	return out
}

// tsSegmentID3 is what a MPEG-TS segment's ID3 stream starts with.
type tsSegmentID3 struct {
	uri      string
	first    []byte // the segment's first ID3 tag
	firstPTS int64  // its PTS (90 kHz)
	videoPTS int64  // the PTS of the segment's first video PES
}

// id3InTS reads the ID3 stream of every segment of media (under dir): the
// tags after each segment's first (PutMetadata's), and each segment's
// first. It fails the test if a segment has no ID3 stream in its PMT or no
// tag in it.
func id3InTS(t *testing.T, e *env, dir string, media *playlist.Media) (tags [][]byte, segs []tsSegmentID3) {
	t.Helper()
	for _, seg := range media.Segments {
		s := tsSegmentID3{uri: seg.URI, firstPTS: -1, videoPTS: -1}
		r := e.get(t, dir+seg.URI)
		dem := astits.NewDemuxer(context.Background(), bytes.NewReader(r.body))
		id3PID, videoPID := uint16(0), uint16(0)
		for {
			d, err := dem.NextData()
			if errors.Is(err, astits.ErrNoMorePackets) {
				break
			} else if err != nil {
				t.Fatalf("segment %s: %v", seg.URI, err)
			}
			if d.PMT != nil {
				for _, es := range d.PMT.ElementaryStreams {
					switch {
					case es.StreamType == astits.StreamTypeMetadata && len(es.ElementaryStreamDescriptors) > 0 &&
						es.ElementaryStreamDescriptors[0].Tag == 0x26 &&
						bytes.Contains(es.ElementaryStreamDescriptors[0].Unknown.Content, []byte("ID3 ")):
						id3PID = es.ElementaryPID
					case es.StreamType == astits.StreamTypeH264Video:
						videoPID = es.ElementaryPID
					}
				}
			}
			if d.PES != nil && videoPID != 0 && d.PID == videoPID && s.videoPTS < 0 {
				s.videoPTS = d.PES.Header.OptionalHeader.PTS.Base
			}
			if d.PES != nil && id3PID != 0 && d.PID == id3PID {
				oh := d.PES.Header.OptionalHeader
				if d.PES.Header.StreamID != 0xBD || oh == nil || oh.PTS == nil || !oh.DataAlignmentIndicator {
					t.Fatalf("ID3 PES header %+v", d.PES.Header)
				}
				// Every segment starts with a tag of its own: IVS's
				// player does not start without data on every stream,
				// and reads its latency from it.
				if s.first == nil {
					s.first, s.firstPTS = d.PES.Data, oh.PTS.Base
				} else {
					tags = append(tags, d.PES.Data)
				}
			}
		}
		if id3PID == 0 || s.first == nil {
			t.Fatalf("segment %s: no ID3 stream in its PMT, or no tag in it", seg.URI)
		}
		segs = append(segs, s)
	}
	return tags, segs
}
