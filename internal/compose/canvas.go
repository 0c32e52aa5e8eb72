package compose

// Picture is a yuv420p picture (what ffmpeg's rawvideo writes): the Y
// plane, then U, then V, each row packed. W and H are even.
type Picture struct {
	W, H int
	Data []byte
}

// PictureSize is the bytes of a w x h yuv420p picture.
func PictureSize(w, h int) int { return w*h + 2*(w/2)*(h/2) }

// NewPicture returns a w x h picture, black.
func NewPicture(w, h int) *Picture {
	p := &Picture{W: w, H: h, Data: make([]byte, PictureSize(w, h))}
	p.Fill(Black)
	return p
}

// Color is a yuv colour (limited range, as ffmpeg's black is).
type Color struct{ Y, U, V byte }

// Black is video black: Y 16, neutral chroma.
var Black = Color{16, 128, 128}

// planes returns p's three planes and their row widths.
func (p *Picture) planes() (y, u, v []byte, cw, ch int) {
	cw, ch = p.W/2, p.H/2
	n := p.W * p.H
	return p.Data[:n], p.Data[n : n+cw*ch], p.Data[n+cw*ch : n+2*cw*ch], cw, ch
}

// Fill paints p with c.
func (p *Picture) Fill(c Color) {
	y, u, v, _, _ := p.planes()
	fill(y, c.Y)
	fill(u, c.U)
	fill(v, c.V)
}

func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// FillRect paints the rectangle at x, y (even) of w x h (even) with c,
// clipped to p.
func (p *Picture) FillRect(x, y, w, h int, c Color) {
	x, y, w, h, ok := p.clip(x, y, w, h)
	if !ok {
		return
	}
	py, pu, pv, cw, _ := p.planes()
	for r := range h {
		fill(py[(y+r)*p.W+x:(y+r)*p.W+x+w], c.Y)
	}
	for r := range h / 2 {
		o := (y/2+r)*cw + x/2
		fill(pu[o:o+w/2], c.U)
		fill(pv[o:o+w/2], c.V)
	}
}

// clip cuts a rectangle to p's bounds, keeping even coordinates.
func (p *Picture) clip(x, y, w, h int) (int, int, int, int, bool) {
	x, y, w, h = x&^1, y&^1, w&^1, h&^1
	if x < 0 {
		w += x
		x = 0
	}
	if y < 0 {
		h += y
		y = 0
	}
	w = min(w, p.W-x)
	h = min(h, p.H-y)
	return x, y, w, h, w > 0 && h > 0
}

// Draw copies src into p at x, y. A src of the tile's size w x h (what a
// participant's decoder makes) is copied row by row; another size (a
// picture from before the tile changed) is scaled to w x h by nearest
// neighbour, until the decoder catches up.
func (p *Picture) Draw(src *Picture, x, y, w, h int) {
	if src == nil || src.W < 2 || src.H < 2 {
		return
	}
	cx, cy, cw, chh, ok := p.clip(x, y, w, h)
	if !ok {
		return
	}
	dy, du, dv, dcw, _ := p.planes()
	sy, su, sv, scw, _ := src.planes()
	if src.W == w && src.H == h {
		// Offsets of the clipped part within the tile.
		ox, oy := cx-(x&^1), cy-(y&^1)
		for r := range chh {
			copy(dy[(cy+r)*p.W+cx:(cy+r)*p.W+cx+cw], sy[(oy+r)*src.W+ox:])
		}
		for r := range chh / 2 {
			d := (cy/2+r)*dcw + cx/2
			s := (oy/2+r)*scw + ox/2
			copy(du[d:d+cw/2], su[s:s+cw/2])
			copy(dv[d:d+cw/2], sv[s:s+cw/2])
		}
		return
	}
	x, y = x&^1, y&^1
	for r := range chh {
		ty := cy + r - y
		srow := (ty * src.H / h) * src.W
		drow := (cy + r) * p.W
		for c := range cw {
			tx := cx + c - x
			dy[drow+cx+c] = sy[srow+tx*src.W/w]
		}
	}
	hw, hh := w/2, h/2
	for r := range chh / 2 {
		ty := cy/2 + r - y/2
		srow := (ty * (src.H / 2) / hh) * scw
		drow := (cy/2 + r) * dcw
		for c := range cw / 2 {
			tx := cx/2 + c - x/2
			si := srow + tx*scw/hw
			du[drow+cx/2+c] = su[si]
			dv[drow+cx/2+c] = sv[si]
		}
	}
}
