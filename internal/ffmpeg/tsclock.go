package ffmpeg

import "time"

// tsWrap is where MPEG-TS timestamps wrap: they are 33 bits of 90 kHz
// (26.5 hours).
const tsWrap = 1 << 33

// TSClock turns the timestamps of an MPEG-TS that ffmpeg wrote with
// -copyts back into the media times that went in: it counts the wraps of
// the 33-bit decode timestamps, so a stream that runs past 26.5 hours
// keeps counting up.
type TSClock struct {
	last, wraps int64
}

// Times returns the media times of the next frame in decode order.
func (c *TSClock) Times(pts, dts int64) (time.Duration, time.Duration) {
	if dts < c.last-tsWrap/2 {
		c.wraps++
	}
	c.last = dts
	d := dts + c.wraps*tsWrap
	// A frame is presented at or after its decoding: the offset is taken
	// modulo the wrap, so a pts past the wrap its dts has not reached yet
	// still comes out later.
	p := d + (pts-dts)&(tsWrap-1)
	return ticksToTime(p), ticksToTime(d)
}

func ticksToTime(t int64) time.Duration { return time.Duration(t * int64(time.Second) / 90000) }
