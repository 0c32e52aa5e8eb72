package stream

import "time"

// Unit is one access unit: a video frame (its NAL units) or one audio frame.
// A Unit is immutable once written to a Hub: every reader receives the same
// pointer, so no reader may modify it.
type Unit struct {
	Track *Track
	// PTS and DTS are relative to the start of the publication.
	PTS time.Duration
	DTS time.Duration
	// NTP is the wall-clock time the unit was received.
	NTP time.Time
	// Payload holds the NAL units of a video frame, or a single audio frame in
	// Payload[0].
	Payload [][]byte
	// RandomAccess marks a video unit a decoder can start from (an IDR frame).
	RandomAccess bool
}

// Size returns the payload size in bytes.
func (u *Unit) Size() int {
	n := 0
	for _, p := range u.Payload {
		n += len(p)
	}
	return n
}
