package gohlslib

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/bluenviron/gohlslib/v2/pkg/storage"
)

type muxerPart struct {
	segmentMaxSize uint64
	streamID       string
	streamTracks   []*muxerTrack
	segment        *muxerSegmentFMP4
	startDTS       time.Duration
	prefix         string
	id             uint64
	storage        storage.Part

	// onair: takes the timed metadata to put before this part's moof.
	takeID3 func() []muxerID3

	path          string
	isIndependent bool
	endDTS        time.Duration // available after finalize()
}

func (p *muxerPart) initialize() {
	p.path = partPath(p.prefix, p.streamID, p.id)
}

func (p *muxerPart) reader() (io.ReadCloser, error) {
	return p.storage.Reader()
}

func (p *muxerPart) getDuration() time.Duration {
	return p.endDTS - p.startDTS
}

func (p *muxerPart) finalize(endDTS time.Duration) error {
	part := fmp4.Part{
		SequenceNumber: uint32(p.id),
	}

	// onair: timed metadata, as emsg boxes timed at the leading track's
	// first sample in this part.
	var id3 []muxerID3
	var id3Time uint64
	var id3TimeScale uint32
	if p.takeID3 != nil {
		for _, track := range p.streamTracks {
			if track.isLeading && track.fmp4Samples != nil {
				id3 = p.takeID3()
				id3Time, id3TimeScale = uint64(track.fmp4StartDTS), uint32(track.ClockRate)
			}
		}
	}

	for i, track := range p.streamTracks {
		if track.fmp4Samples != nil {
			part.Tracks = append(part.Tracks, &fmp4.PartTrack{
				ID:       1 + i,
				BaseTime: uint64(track.fmp4StartDTS),
				Samples:  track.fmp4Samples,
			})

			track.fmp4Samples = nil
		}
	}

	// onair: size an in-memory part's buffer once, for its samples and a
	// generous moof. Grown as go-mp4 writes (io.CopyN, 32 KiB at a time,
	// into a bytes.Buffer that doubles), a finished part kept up to 2.4
	// times its size.
	w := p.storage.Writer()
	if g, ok := w.(interface{ Grow(int) }); ok {
		n := 1024
		for _, t := range part.Tracks {
			n += 32 * len(t.Samples)
			for _, s := range t.Samples {
				n += len(s.Payload)
			}
		}
		g.Grow(n)
	}

	for _, e := range id3 {
		if _, err := w.Write(emsgID3(id3TimeScale, id3Time, e.id, e.tag)); err != nil {
			return err
		}
	}

	err := part.Marshal(w)
	if err != nil {
		return err
	}

	p.endDTS = endDTS

	return nil
}

func (p *muxerPart) writeSample(track *muxerTrack, sample *fmp4AugmentedSample) error {
	size := uint64(len(sample.Payload))
	if (p.segment.size + size) > p.segmentMaxSize {
		return fmt.Errorf("reached maximum segment size")
	}
	p.segment.size += size

	if track.fmp4Samples == nil {
		track.fmp4StartDTS = sample.dts
	}

	if (track.isLeading || len(track.stream.tracks) == 1) && !sample.IsNonSyncSample {
		p.isIndependent = true
	}

	track.fmp4Samples = append(track.fmp4Samples, &sample.Sample)

	return nil
}

// onair: emsgID3 is an emsg box, version 1 (ISO/IEC 23009-1), carrying an
// ID3 tag under the scheme of the AOM ID3 timed metadata spec, with an
// unknown duration.
func emsgID3(timeScale uint32, presentationTime uint64, id uint32, tag []byte) []byte {
	const scheme = "https://aomedia.org/emsg/ID3"
	size := 8 + 4 + 4 + 8 + 4 + 4 + len(scheme) + 1 + 1 + len(tag)
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	b = append(b, "emsg"...)
	b = append(b, 1, 0, 0, 0) // version 1, flags
	b = binary.BigEndian.AppendUint32(b, timeScale)
	b = binary.BigEndian.AppendUint64(b, presentationTime)
	b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF) // event_duration: unknown
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, scheme...)
	b = append(b, 0, 0) // scheme_id_uri's end; value ""
	return append(b, tag...)
}
