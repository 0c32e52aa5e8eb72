package hls

import (
	"encoding/binary"
	"strconv"
	"time"
)

// id3Text is an ID3v2.4 tag with one TXXX frame (UTF-8, no description)
// holding text: how IVS carries PutMetadata, which players raise as a text
// metadata cue (hls.js: a TXXX cue whose data is the text).
func id3Text(text []byte) []byte {
	return id3TXXX("", text)
}

// segmentMetadataDescription names the TXXX frame that starts every
// MPEG-TS segment's ID3 stream (id3SegmentMetadata). Players show it to
// apps as a metadata cue of that description; onair's player page, and
// apps reading PutMetadata, skip it.
const segmentMetadataDescription = "segmentmetadata"

// id3SegmentMetadata is the tag that starts a segment's ID3 stream, as
// IVS's: a TXXX frame "segmentmetadata" whose JSON value says when onair
// received the segment's first frame from the publisher (transc_r, ms
// since the epoch). IVS's web player reads it, with cmd "ld_lat_data",
// for getLiveLatency(): now (on the server's clock, the multivariant's
// SERVER-TIME) minus transc_r at each cue. IVS's JSON carries more
// (stream_offset, transc_s...); only what onair can say with a known
// meaning is here.
func id3SegmentMetadata(received time.Time) []byte {
	v := make([]byte, 0, 64)
	v = append(v, `{"cmd":"ld_lat_data","transc_r":`...)
	v = strconv.AppendInt(v, received.UnixMilli(), 10)
	v = append(v, '}')
	return id3TXXX(segmentMetadataDescription, v)
}

// id3TXXX is an ID3v2.4 tag with one TXXX frame (UTF-8) of description
// desc and value text.
func id3TXXX(desc string, text []byte) []byte {
	size := 1 + len(desc) + 1 + len(text)
	frame := make([]byte, 0, 10+size)
	frame = append(frame, "TXXX"...)
	frame = appendSyncsafe(frame, uint32(size))
	frame = append(frame, 0, 0) // frame flags
	frame = append(frame, 3)    // UTF-8
	frame = append(frame, desc...)
	frame = append(frame, 0) // the description's terminator
	frame = append(frame, text...)

	tag := make([]byte, 0, 10+len(frame))
	tag = append(tag, 'I', 'D', '3', 4, 0, 0) // v2.4.0, no flags
	tag = appendSyncsafe(tag, uint32(len(frame)))
	return append(tag, frame...)
}

// appendSyncsafe appends n as ID3's 28-bit syncsafe integer.
func appendSyncsafe(b []byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32(b, n&0x7f|(n>>7&0x7f)<<8|(n>>14&0x7f)<<16|(n>>21&0x7f)<<24)
}
