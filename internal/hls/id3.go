package hls

import "encoding/binary"

// id3Text is an ID3v2.4 tag with one TXXX frame (UTF-8, no description)
// holding text: how IVS carries PutMetadata, which players raise as a text
// metadata cue (hls.js: a TXXX cue whose data is the text).
func id3Text(text []byte) []byte {
	frame := make([]byte, 0, 10+2+len(text))
	frame = append(frame, "TXXX"...)
	frame = appendSyncsafe(frame, uint32(2+len(text)))
	frame = append(frame, 0, 0) // frame flags
	frame = append(frame, 3, 0) // UTF-8; empty description, terminated
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
