package storage

import (
	"bytes"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

type partRAM struct {
	buffer seekablebuffer.Buffer
}

func newPartRAM() *partRAM {
	return &partRAM{}
}

// Writer implements Part.
func (p *partRAM) Writer() io.WriteSeeker {
	return &p.buffer
}

// Reader implements Part.
func (p *partRAM) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(p.buffer.Bytes())), nil
}

// Bytes returns what the part holds (onair: for segments served while
// they are written). The caller must not modify it.
func (p *partRAM) Bytes() []byte {
	return p.buffer.Bytes()
}

// Size returns the part's length (onair: for Content-Length).
func (p *partRAM) Size() int64 {
	return int64(p.buffer.Len())
}

// Trim (onair) gives a finished part an array of its own size when the
// one it grew into has more than an eighth unused. An MPEG-TS segment is
// one part written a packet at a time, and bytes.Buffer doubles as it
// grows: a finished 2.5 Mbps segment of 1 s kept up to twice its bytes,
// for as long as the playlist offered it. One copy per segment, against
// the muxer's lifetime of memory. Only MPEG-TS segments call it, before
// anything reads the part: LL-HLS parts are served while their segment
// goes on, and are sized once when they are written (patch 2).
func (p *partRAM) Trim() {
	n := p.buffer.Len()
	if p.buffer.Cap()-n <= n/8 {
		return
	}
	exact := make([]byte, n)
	copy(exact, p.buffer.Bytes())
	p.buffer = seekablebuffer.Buffer{Buffer: *bytes.NewBuffer(exact)}
}
