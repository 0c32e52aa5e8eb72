package main

// The compose phase's visual stamp: a row of black and white blocks drawn
// into each publisher's pictures that says which publisher sent the
// picture and which frame of its clip it is. An SEI stamp (what the other
// latency phases read) does not survive the composition, which decodes
// the publishers' video and encodes a new picture; blocks this big do
// survive the decode, the scale to a tile of a 2x2 grid (half the size)
// and two H.264 encodes.
//
// The row, left to right: a white and a black reference block (the reader
// takes its threshold from them, and refuses a picture where they are not
// clearly apart), 2 bits of publisher, 8 bits of frame index, 4 check bits
// (the XOR of the three nibbles of the 10 data bits), most significant
// bit first, white for 1.

const (
	stampX, stampY = 64, 64 // the row's top left corner in the source picture
	stampBlock     = 48     // a block's side in source pixels
	stampPubBits   = 2
	stampIdxBits   = 8
	stampBlocks    = 2 + stampPubBits + stampIdxBits + 4
	stampMaxPubs   = 1 << stampPubBits
	stampMaxFrames = 1 << stampIdxBits

	lumaBlack, lumaWhite = 16, 235 // video range, as the encoders take it
)

// stampCheck is the 4 check bits of a 10-bit value: any single flipped bit
// changes them.
func stampCheck(v int) int { return (v ^ v>>4 ^ v>>8) & 0xf }

// stampBits is the row's blocks as bits (true: white), references
// included.
func stampBits(pub, idx int) [stampBlocks]bool {
	var b [stampBlocks]bool
	b[0] = true
	v := pub<<stampIdxBits | idx
	word := v<<4 | stampCheck(v)
	for i := range stampBlocks - 2 {
		b[2+i] = word>>(stampBlocks-3-i)&1 == 1
	}
	return b
}

// paintStamp draws the stamp of (pub, idx) into a yuv420p picture of
// w x h (the Y plane, then U and V), its chroma neutral.
func paintStamp(pic []byte, w, h, pub, idx int) {
	bits := stampBits(pub, idx)
	u, v := pic[w*h:], pic[w*h+(w/2)*(h/2):]
	for i, white := range bits {
		y := byte(lumaBlack)
		if white {
			y = lumaWhite
		}
		x0 := stampX + i*stampBlock
		for r := stampY; r < stampY+stampBlock && r < h; r++ {
			for c := x0; c < x0+stampBlock && c < w; c++ {
				pic[r*w+c] = y
			}
		}
		for r := stampY / 2; r < (stampY+stampBlock)/2 && r < h/2; r++ {
			for c := x0 / 2; c < (x0+stampBlock)/2 && c < w/2; c++ {
				u[r*(w/2)+c], v[r*(w/2)+c] = 128, 128
			}
		}
	}
}

// readStamp reads the stamp of a source picture drawn at (x0, y0) of a
// w-wide luma plane, scaled by scale (0.5: a tile of a 2x2 grid). It
// averages the middle half of each block, so the tile may be a few pixels
// off where the caller thinks it is.
func readStamp(luma []byte, w, h, x0, y0 int, scale float64) (pub, idx int, ok bool) {
	side := float64(stampBlock) * scale
	mean := func(i int) float64 {
		cx := float64(x0) + (float64(stampX)+(float64(i)+0.5)*stampBlock)*scale
		cy := float64(y0) + (float64(stampY)+0.5*stampBlock)*scale
		r := max(int(side/4), 1)
		sum, n := 0, 0
		for y := int(cy) - r; y < int(cy)+r; y++ {
			for x := int(cx) - r; x < int(cx)+r; x++ {
				if x < 0 || y < 0 || x >= w || y >= h {
					return -1
				}
				sum += int(luma[y*w+x])
				n++
			}
		}
		return float64(sum) / float64(n)
	}
	white, black := mean(0), mean(1)
	if white < 0 || black < 0 || white-black < 80 {
		return 0, 0, false
	}
	mid, margin := (white+black)/2, (white-black)/4
	word := 0
	for i := 2; i < stampBlocks; i++ {
		m := mean(i)
		if m < 0 || (m > mid-margin && m < mid+margin) {
			return 0, 0, false // neither black nor white: not a stamp
		}
		word <<= 1
		if m > mid {
			word |= 1
		}
	}
	v := word >> 4
	if stampCheck(v) != word&0xf {
		return 0, 0, false
	}
	return v >> stampIdxBits, v & (stampMaxFrames - 1), true
}
