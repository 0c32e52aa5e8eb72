package compose

import (
	"encoding/binary"
	"testing"
)

// solid is a w x h picture of one colour.
func solid(w, h int, c Color) *Picture {
	p := &Picture{W: w, H: h, Data: make([]byte, PictureSize(w, h))}
	p.Fill(c)
	return p
}

// at is the colour of p's pixel x, y.
func (p *Picture) at(x, y int) Color {
	py, pu, pv, cw, _ := p.planes()
	return Color{py[y*p.W+x], pu[(y/2)*cw+x/2], pv[(y/2)*cw+x/2]}
}

var (
	red  = Color{81, 90, 240}
	blue = Color{41, 240, 110}
)

func TestDraw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		src        *Picture
		x, y, w, h int
		inside     [][2]int // pixels that take the source's colour
		outside    [][2]int // pixels that stay black
	}{
		{"exact size", solid(4, 4, red), 2, 2, 4, 4, [][2]int{{2, 2}, {5, 5}}, [][2]int{{1, 1}, {6, 6}, {0, 7}}},
		{"scaled up", solid(2, 2, red), 0, 0, 6, 4, [][2]int{{0, 0}, {5, 3}}, [][2]int{{6, 0}, {0, 4}}},
		{"scaled down", solid(16, 16, red), 4, 0, 2, 2, [][2]int{{4, 0}, {5, 1}}, [][2]int{{3, 0}, {6, 1}, {4, 2}}},
		{"clipped right and bottom", solid(4, 4, red), 6, 6, 4, 4, [][2]int{{6, 6}, {7, 7}}, [][2]int{{5, 5}}},
		{"clipped left and top", solid(4, 4, red), -2, -2, 4, 4, [][2]int{{0, 0}, {1, 1}}, [][2]int{{2, 2}}},
		{"odd place rounds down", solid(2, 2, red), 3, 3, 2, 2, [][2]int{{2, 2}, {3, 3}}, [][2]int{{4, 4}, {1, 1}}},
		{"off the canvas", solid(2, 2, red), 10, 10, 2, 2, nil, [][2]int{{7, 7}}},
		{"no source", nil, 0, 0, 4, 4, nil, [][2]int{{0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewPicture(8, 8)
			c.Draw(tc.src, tc.x, tc.y, tc.w, tc.h)
			for _, p := range tc.inside {
				if got := c.at(p[0], p[1]); got != red {
					t.Errorf("pixel %v = %v, want red %v", p, got, red)
				}
			}
			for _, p := range tc.outside {
				if got := c.at(p[0], p[1]); got != Black {
					t.Errorf("pixel %v = %v, want black", p, got)
				}
			}
		})
	}
}

// Draw copies the rows of a two-colour source where they belong: the
// left half stays left, the top half top, in every plane.
func TestDrawKeepsOrientation(t *testing.T) {
	t.Parallel()
	src := solid(8, 8, red)
	src.FillRect(4, 0, 4, 4, blue) // top right blue
	for _, size := range [][2]int{{8, 8}, {16, 16}, {4, 4}} {
		c := NewPicture(32, 32)
		c.Draw(src, 2, 2, size[0], size[1])
		w, h := size[0], size[1]
		if got := c.at(2+w/4, 2+h/4); got != red {
			t.Errorf("%v: top left %v, want red", size, got)
		}
		if got := c.at(2+3*w/4, 2+h/4); got != blue {
			t.Errorf("%v: top right %v, want blue", size, got)
		}
		if got := c.at(2+3*w/4, 2+3*h/4); got != red {
			t.Errorf("%v: bottom right %v, want red", size, got)
		}
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	p := NewPicture(6, 4)
	if len(p.Data) != 6*4*3/2 {
		t.Fatalf("size %d", len(p.Data))
	}
	for i, b := range p.Data {
		want := byte(128)
		if i < 24 {
			want = 16
		}
		if b != want {
			t.Fatalf("byte %d = %d, want %d", i, b, want)
		}
	}
	p.FillRect(2, 0, 2, 2, red)
	if p.at(2, 0) != red || p.at(1, 0) != Black || p.at(4, 0) != Black || p.at(2, 2) != Black {
		t.Fatalf("FillRect painted the wrong place")
	}
}

func pcm(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

func samplesOf(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// repeat is n stereo samples of v.
func repeat(v int16, n int) []byte {
	s := make([]int16, 2*n)
	for i := range s {
		s[i] = v
	}
	return pcm(s...)
}

func TestMixer(t *testing.T) {
	t.Parallel()
	m := NewMixer()
	a, b := m.Queue("a"), m.Queue("b")
	// Not primed yet: silence.
	a.Write(repeat(1000, primeSamples/2))
	if got := samplesOf(m.Mix(10)); got[0] != 0 {
		t.Fatalf("unprimed queue mixed: %v", got[:4])
	}
	a.Write(repeat(1000, primeSamples))
	b.Write(repeat(-300, primeSamples))
	if got := samplesOf(m.Mix(10)); got[0] != 700 || got[19] != 700 {
		t.Fatalf("sum = %v, want 700", got[:4])
	}
	// Clipping both ways.
	c := NewMixer()
	x, y := c.Queue("x"), c.Queue("y")
	x.Write(repeat(30000, primeSamples))
	y.Write(repeat(30000, primeSamples))
	if got := samplesOf(c.Mix(4)); got[0] != 32767 {
		t.Fatalf("clip high: %v", got[0])
	}
	x.SetMuted(true)
	x.Write(repeat(-30000, primeSamples))
	y.Write(repeat(-30000, 2*primeSamples))
	if got := samplesOf(c.Mix(primeSamples)); got[len(got)-1] != -30000 {
		t.Fatalf("a muted queue was mixed: %v", got[len(got)-1])
	}
	x.SetMuted(false)
	x.Write(repeat(-30000, primeSamples))
	// y's older 30000s drained with the last mix; what is left is -30000.
	if got := samplesOf(c.Mix(4)); got[0] != -32768 {
		t.Fatalf("clip low: %v", got[0])
	}
	// An underrun leaves the rest silent and waits to prime again.
	d := NewMixer()
	q := d.Queue("q")
	q.Write(repeat(500, primeSamples))
	got := samplesOf(d.Mix(primeSamples + 10))
	if got[0] != 500 || got[len(got)-1] != 0 {
		t.Fatalf("underrun: first %d last %d", got[0], got[len(got)-1])
	}
	q.Write(repeat(500, 10))
	if got := samplesOf(d.Mix(5)); got[0] != 0 {
		t.Fatalf("mixed before priming again: %v", got[0])
	}
	// A queue that grows past its bound is cut back to the prime.
	q.Write(repeat(7, maxQueued+10))
	q.mu.Lock()
	n := len(q.buf)
	q.mu.Unlock()
	if n != primeSamples*AudioChannels {
		t.Fatalf("queue of %d samples after an overflow, want %d", n, primeSamples*AudioChannels)
	}
	d.Remove("q")
	if got := samplesOf(d.Mix(3)); got[0] != 0 {
		t.Fatalf("a removed queue was mixed")
	}
}
