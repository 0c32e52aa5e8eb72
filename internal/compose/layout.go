// Package compose composes a stage's publishers into one video (IVS
// server-side composition). This file is the layout: where each
// publisher's video goes on the canvas, a pure function of the layout
// configuration and the participants, so the ffmpeg graph built from it
// can be checked without video.
package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/onair-video/onair/internal/ivs"
)

// AspectRatio is a grid's videoAspectRatio.
type AspectRatio string

// The aspect ratios of GridConfiguration.videoAspectRatio.
const (
	AspectVideo    AspectRatio = "VIDEO"    // 16:9
	AspectSquare   AspectRatio = "SQUARE"   // 1:1
	AspectPortrait AspectRatio = "PORTRAIT" // 3:4
	AspectAuto     AspectRatio = "AUTO"     // from the sources (onair: the most common)
)

// FillMode is how a participant's video fits its tile.
type FillMode string

// The fill modes of videoFillMode.
const (
	FillFill    FillMode = "FILL"    // stretched
	FillCover   FillMode = "COVER"   // scaled to cover the tile, cropped
	FillContain FillMode = "CONTAIN" // scaled to fit the tile, letterboxed
)

// PipBehavior is what the PiP window does when its participant is alone.
type PipBehavior string

// The values of PipConfiguration.pipBehavior.
const (
	PipStatic  PipBehavior = "STATIC"
	PipDynamic PipBehavior = "DYNAMIC"
)

// PipPosition is the corner of the PiP window.
type PipPosition string

// The values of PipConfiguration.pipPosition.
const (
	PipTopLeft     PipPosition = "TOP_LEFT"
	PipTopRight    PipPosition = "TOP_RIGHT"
	PipBottomLeft  PipPosition = "BOTTOM_LEFT"
	PipBottomRight PipPosition = "BOTTOM_RIGHT"
)

// IVS's defaults.
const (
	DefaultGridGap = 2
	DefaultPipGap  = 0
)

// GridConfiguration is IVS's GridConfiguration. Pointers tell an absent
// member (IVS's default) from a zero one.
type GridConfiguration struct {
	FeaturedParticipantAttribute string      `json:"featuredParticipantAttribute"`
	ParticipantOrderAttribute    string      `json:"participantOrderAttribute"`
	OmitStoppedVideo             bool        `json:"omitStoppedVideo"`
	VideoAspectRatio             AspectRatio `json:"videoAspectRatio"`
	// VideoFillMode "" means IVS's per-slot default: COVER for the grid,
	// CONTAIN for the featured participant. WithDefaults keeps it "".
	VideoFillMode FillMode `json:"videoFillMode,omitempty"`
	GridGap       *int     `json:"gridGap"`
}

// PipConfiguration is IVS's PipConfiguration.
type PipConfiguration struct {
	FeaturedParticipantAttribute string      `json:"featuredParticipantAttribute"`
	ParticipantOrderAttribute    string      `json:"participantOrderAttribute"`
	OmitStoppedVideo             bool        `json:"omitStoppedVideo"`
	VideoFillMode                FillMode    `json:"videoFillMode"`
	GridGap                      *int        `json:"gridGap"`
	PipParticipantAttribute      string      `json:"pipParticipantAttribute"`
	PipBehavior                  PipBehavior `json:"pipBehavior"`
	PipPosition                  PipPosition `json:"pipPosition"`
	PipOffset                    *int        `json:"pipOffset"`
	// PipWidth and PipHeight nil: derived from the canvas and the PiP
	// participant's aspect ratio (and from each other when one is set).
	PipWidth  *int `json:"pipWidth,omitempty"`
	PipHeight *int `json:"pipHeight,omitempty"`
}

// Configuration is IVS's LayoutConfiguration: grid (the default) or pip.
type Configuration struct {
	Grid *GridConfiguration `json:"grid,omitempty"`
	Pip  *PipConfiguration  `json:"pip,omitempty"`
}

func intp(v int) *int { return &v }

// WithDefaults returns c with IVS's defaults in the absent members.
func (c GridConfiguration) WithDefaults() GridConfiguration {
	if c.VideoAspectRatio == "" {
		c.VideoAspectRatio = AspectVideo
	}
	if c.GridGap == nil {
		c.GridGap = intp(DefaultGridGap)
	}
	return c
}

// WithDefaults returns c with IVS's defaults in the absent members.
func (c PipConfiguration) WithDefaults() PipConfiguration {
	if c.VideoFillMode == "" {
		c.VideoFillMode = FillCover
	}
	if c.GridGap == nil {
		c.GridGap = intp(DefaultPipGap)
	}
	if c.PipBehavior == "" {
		c.PipBehavior = PipStatic
	}
	if c.PipPosition == "" {
		c.PipPosition = PipBottomRight
	}
	if c.PipOffset == nil {
		c.PipOffset = intp(0)
	}
	return c
}

// WithDefaults returns c with a grid when it names no layout, and each
// layout's defaults applied.
func (c Configuration) WithDefaults() Configuration {
	if c.Grid == nil && c.Pip == nil {
		c.Grid = &GridConfiguration{}
	}
	if c.Grid != nil {
		g := c.Grid.WithDefaults()
		c.Grid = &g
	}
	if c.Pip != nil {
		p := c.Pip.WithDefaults()
		c.Pip = &p
	}
	return c
}

// ParseConfiguration reads a LayoutConfiguration as StartComposition
// takes it; empty (absent) is the default grid. A member of the wrong JSON
// type is a ValidationException naming it ("layout.grid.gridGap").
func ParseConfiguration(raw []byte) (Configuration, error) {
	var c Configuration
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return c, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return c, ivs.Validation("layout."+te.Field, "layout.%s: expected %s, got JSON %s", te.Field, te.Type.Kind(), te.Value)
		}
		return c, ivs.Validation("layout", "layout must be a LayoutConfiguration object: %v", err)
	}
	return c, nil
}

// attributeKey is IVS's AttributeKey pattern (0 to 128 of them).
var attributeKey = regexp.MustCompile(`^[a-zA-Z0-9\-_]{0,128}$`)

// Validate checks c the way StartComposition does, naming the member as
// "layout.grid.gridGap" and the like. Both grid and pip is refused: a
// composition has one layout (onair's reading; IVS's docs are silent).
func (c Configuration) Validate() error {
	if c.Grid != nil && c.Pip != nil {
		return ivs.Validation("layout", "layout must have either grid or pip, not both")
	}
	if g := c.Grid; g != nil {
		if err := validAttr("layout.grid.featuredParticipantAttribute", g.FeaturedParticipantAttribute); err != nil {
			return err
		}
		if err := validAttr("layout.grid.participantOrderAttribute", g.ParticipantOrderAttribute); err != nil {
			return err
		}
		if err := validEnum("layout.grid.videoAspectRatio", g.VideoAspectRatio, AspectVideo, AspectSquare, AspectPortrait, AspectAuto); err != nil {
			return err
		}
		if err := validEnum("layout.grid.videoFillMode", g.VideoFillMode, FillFill, FillCover, FillContain); err != nil {
			return err
		}
		if err := validMin("layout.grid.gridGap", g.GridGap, 0); err != nil {
			return err
		}
	}
	if p := c.Pip; p != nil {
		for field, v := range map[string]string{
			"layout.pip.featuredParticipantAttribute": p.FeaturedParticipantAttribute,
			"layout.pip.participantOrderAttribute":    p.ParticipantOrderAttribute,
			"layout.pip.pipParticipantAttribute":      p.PipParticipantAttribute,
		} {
			if err := validAttr(field, v); err != nil {
				return err
			}
		}
		if err := validEnum("layout.pip.videoFillMode", p.VideoFillMode, FillFill, FillCover, FillContain); err != nil {
			return err
		}
		if err := validEnum("layout.pip.pipBehavior", p.PipBehavior, PipStatic, PipDynamic); err != nil {
			return err
		}
		if err := validEnum("layout.pip.pipPosition", p.PipPosition, PipTopLeft, PipTopRight, PipBottomLeft, PipBottomRight); err != nil {
			return err
		}
		if err := validMin("layout.pip.gridGap", p.GridGap, 0); err != nil {
			return err
		}
		if err := validMin("layout.pip.pipOffset", p.PipOffset, 0); err != nil {
			return err
		}
		if err := validMin("layout.pip.pipWidth", p.PipWidth, 1); err != nil {
			return err
		}
		if err := validMin("layout.pip.pipHeight", p.PipHeight, 1); err != nil {
			return err
		}
	}
	return nil
}

func validAttr(field, v string) error {
	if !attributeKey.MatchString(v) {
		return ivs.Validation(field, "%s must be at most 128 of [a-zA-Z0-9-_], got %q", field, v)
	}
	return nil
}

func validEnum[T ~string](field string, v T, allowed ...T) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return ivs.Validation(field, "%s must be one of %v, got %q", field, allowed, string(v))
}

func validMin(field string, v *int, least int) error {
	if v != nil && *v < least {
		return ivs.Validation(field, "%s must be at least %d, got %d", field, least, *v)
	}
	return nil
}

// Participant is a publisher as the layout sees it.
type Participant struct {
	ID         string
	Attributes map[string]string
	// JoinOrder is the order of arrival on the stage: lower came first.
	JoinOrder int64
	// VideoStopped is the participant's own videoStopped state.
	VideoStopped bool
	// Width and Height are the source video's size, 0 when not known yet.
	Width, Height int
}

// Tile is where one participant's video goes: an even-sized rectangle at
// even coordinates (yuv420p's chroma is half size), and how the video
// fills it.
type Tile struct {
	ParticipantID string
	X, Y, W, H    int
	Fill          FillMode
}

// maxCanvas bounds the canvas so the arithmetic below cannot overflow; an
// encoder configuration allows at most 1920 a side.
const maxCanvas = 1 << 16

// Layout places participants on a canvasW x canvasH canvas. The tiles
// come in drawing order: a later tile is drawn over an earlier one (only
// the PiP window overlaps another tile). cfg need not have its defaults
// applied; an invalid cfg (see Validate) is laid out as best it can be.
func Layout(canvasW, canvasH int, cfg Configuration, participants []Participant) []Tile {
	cfg = cfg.WithDefaults()
	W, H := floorEven(min(canvasW, maxCanvas)), floorEven(min(canvasH, maxCanvas))
	if W < 2 || H < 2 {
		return nil
	}
	canvas := rect{0, 0, W, H}
	if p := cfg.Pip; p != nil {
		if !validFill(p.VideoFillMode) {
			p.VideoFillMode = FillCover
		}
		return layoutPip(canvas, *p, order(participants, p.ParticipantOrderAttribute, p.OmitStoppedVideo))
	}
	g := cfg.Grid
	ps := order(participants, g.ParticipantOrderAttribute, g.OmitStoppedVideo)
	featured, others := pickFeatured(ps, g.FeaturedParticipantAttribute)
	aspect := gridAspect(g.VideoAspectRatio, others)
	cover, contain := g.VideoFillMode, g.VideoFillMode
	if !validFill(cover) {
		cover, contain = FillCover, FillContain
	}
	return layoutGrid(canvas, featured, others, aspect, max(*g.GridGap, 0), contain, cover)
}

func validFill(f FillMode) bool { return f == FillFill || f == FillCover || f == FillContain }

// order returns the participants the layout shows, in IVS's documented
// order: those whose orderAttr is an integer first, by that number, then
// the rest by arrival. Ties go by arrival, then by id, so that the layout
// is a function of its input.
func order(participants []Participant, orderAttr string, omitStopped bool) []Participant {
	type keyed struct {
		p     Participant
		has   bool
		value int64
	}
	ks := make([]keyed, 0, len(participants))
	for _, p := range participants {
		if omitStopped && p.VideoStopped {
			continue
		}
		k := keyed{p: p}
		if orderAttr != "" {
			// IVS: "numeric sorting"; "1.5" and "abc" are invalid and fall
			// back to arrival order.
			if v, err := strconv.ParseInt(p.Attributes[orderAttr], 10, 64); err == nil {
				k.has, k.value = true, v
			}
		}
		ks = append(ks, k)
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		switch {
		case a.has != b.has:
			if a.has {
				return -1
			}
			return 1
		case a.has && a.value != b.value:
			if a.value < b.value {
				return -1
			}
			return 1
		case a.p.JoinOrder != b.p.JoinOrder:
			if a.p.JoinOrder < b.p.JoinOrder {
				return -1
			}
			return 1
		case a.p.ID < b.p.ID:
			return -1
		case a.p.ID > b.p.ID:
			return 1
		}
		return 0
	})
	out := make([]Participant, len(ks))
	for i, k := range ks {
		out[i] = k.p
	}
	return out
}

// pickFeatured takes out the first (in order) participant whose attr is
// "true"; when several claim the slot, the others stay in the grid
// (onair's choice).
func pickFeatured(ps []Participant, attr string) (*Participant, []Participant) {
	if attr == "" {
		return nil, ps
	}
	for i := range ps {
		if ps[i].Attributes[attr] == "true" {
			f := ps[i]
			return &f, append(slices.Clone(ps[:i]), ps[i+1:]...)
		}
	}
	return nil, ps
}

// ratio is an aspect ratio num:den (width:height), both at least 1.
type ratio struct{ num, den int64 }

// gridAspect is the aspect ratio of the grid's tiles. AUTO is onair's
// choice (IVS documents only the name): the most common aspect ratio of
// the sources whose size is known, the first in order on a tie, 16:9 when
// none is known.
func gridAspect(a AspectRatio, ps []Participant) ratio {
	switch a {
	case AspectSquare:
		return ratio{1, 1}
	case AspectPortrait:
		return ratio{3, 4}
	case AspectAuto:
		count := map[ratio]int{}
		best, bestN := ratio{16, 9}, 0
		for _, p := range ps {
			r, ok := sourceRatio(p)
			if !ok {
				continue
			}
			count[r]++
			if count[r] > bestN {
				best, bestN = r, count[r]
			}
		}
		return best
	}
	return ratio{16, 9}
}

// sourceRatio is p's video aspect ratio, reduced (1280x720 and 640x360 are
// both 16:9) and kept within 1:4 to 4:1 so no tile degenerates into a line.
func sourceRatio(p Participant) (ratio, bool) {
	if p.Width <= 0 || p.Height <= 0 {
		return ratio{}, false
	}
	return clampRatio(ratio{int64(p.Width), int64(p.Height)}), true
}

func clampRatio(r ratio) ratio {
	g := gcd(r.num, r.den)
	r = ratio{r.num / g, r.den / g}
	// Keep both small so products with pixel sizes stay far from overflow.
	for r.num > maxCanvas || r.den > maxCanvas {
		r = ratio{max(r.num/2, 1), max(r.den/2, 1)}
	}
	if r.num > 4*r.den {
		r = ratio{4 * r.den, r.den}
	}
	if r.den > 4*r.num {
		r = ratio{r.num, 4 * r.num}
	}
	return r
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type rect struct{ x, y, w, h int }

// ratio is r's shape, not clamped: a tile of it fills r exactly.
func (r rect) ratio() ratio {
	g := gcd(int64(r.w), int64(r.h))
	return ratio{int64(r.w) / g, int64(r.h) / g}
}

func floorEven(v int) int { return v &^ 1 }
func ceilEven(v int) int  { return (v + 1) &^ 1 }

// layoutGrid lays out the featured participant (if any) and the others in
// region. With a featured participant and others, the featured slot takes
// two thirds of the region's longer side (left on a landscape region, top
// on a portrait one) and the others share the rest as a grid: onair's
// choice, IVS only says the featured participant goes in a "featured slot".
func layoutGrid(region rect, featured *Participant, others []Participant, aspect ratio, gap int, featuredFill, fill FillMode) []Tile {
	// Gaps are made even so that every tile starts on an even pixel.
	gap = ceilEven(min(gap, maxCanvas))
	var tiles []Tile
	rest := region
	if featured != nil {
		slot := region
		if len(others) > 0 {
			if region.w >= region.h {
				slot.w = floorEven((region.w - gap) * 2 / 3)
				rest = rect{region.x + slot.w + gap, region.y, region.w - slot.w - gap, region.h}
			} else {
				slot.h = floorEven((region.h - gap) * 2 / 3)
				rest = rect{region.x, region.y + slot.h + gap, region.w, region.h - slot.h - gap}
			}
			if slot.w < 2 || slot.h < 2 || rest.w < 2 || rest.h < 2 {
				// No room for both: the featured participant alone.
				slot, others = region, nil
			}
		}
		tiles = append(tiles, Tile{featured.ID, slot.x, slot.y, slot.w, slot.h, featuredFill})
	}
	for i, r := range gridRects(rest, len(others), aspect, gap) {
		tiles = append(tiles, Tile{others[i].ID, r.x, r.y, r.w, r.h, fill})
	}
	return tiles
}

// gridRects places n tiles of the aspect ratio in region, as large as they
// can be: of every column count, the one giving the largest tiles. The
// block of tiles is centred in the region and a last, shorter row centred
// under the others (onair's choices). When the n tiles cannot fit at 2
// pixels each the gap is dropped, then the last tiles, so that what is
// drawn stays inside the region.
func gridRects(region rect, n int, aspect ratio, gap int) []rect {
	if n == 0 {
		return nil
	}
	for _, g := range []int{gap, 0} {
		if cols, tw, th, ok := bestGrid(region, n, aspect, g); ok {
			return place(region, n, cols, tw, th, g)
		}
	}
	for k := n - 1; k > 0; k-- {
		if cols, tw, th, ok := bestGrid(region, k, aspect, 0); ok {
			return place(region, k, cols, tw, th, 0)
		}
	}
	return nil
}

func bestGrid(region rect, n int, aspect ratio, gap int) (cols, tw, th int, ok bool) {
	bestArea := -1
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		if c > 1 && (n+c-2)/(c-1) == r {
			continue // the rows of c-1 columns: narrower cells, never larger tiles
		}
		cellW, cellH := (region.w-(c-1)*gap)/c, (region.h-(r-1)*gap)/r
		if cellW < 2 || cellH < 2 {
			continue
		}
		w, h := fit(int64(cellW), int64(cellH), aspect)
		if w < 2 || h < 2 {
			continue
		}
		// On a tie a landscape region takes the more columns (two people
		// side by side), a portrait one the fewer.
		if area := w * h; area > bestArea || (area == bestArea && region.w >= region.h) {
			bestArea = area
			cols, tw, th, ok = c, w, h, true
		}
	}
	return cols, tw, th, ok
}

// fit is the largest even-sized rectangle of the aspect ratio within
// cellW x cellH.
func fit(cellW, cellH int64, a ratio) (int, int) {
	w, h := cellW, cellW*a.den/a.num
	if h > cellH {
		w, h = cellH*a.num/a.den, cellH
	}
	return floorEven(int(w)), floorEven(int(h))
}

func place(region rect, n, cols, tw, th, gap int) []rect {
	rows := (n + cols - 1) / cols
	blockH := rows*th + (rows-1)*gap
	y := region.y + floorEven((region.h-blockH)/2)
	out := make([]rect, 0, n)
	for row := range rows {
		k := min(cols, n-row*cols)
		rowW := k*tw + (k-1)*gap
		x := region.x + floorEven((region.w-rowW)/2)
		for i := range k {
			out = append(out, rect{x + i*(tw+gap), y + row*(th+gap), tw, th})
		}
	}
	return out
}

// layoutPip lays out IVS's PiP layout. The participant whose
// pipParticipantAttribute is "true" (the first in order if several) takes
// the PiP window; when none does, the second in order takes it (onair's
// choice: a PiP layout of two people shows the second in the window). The
// others fill the canvas as a grid of the canvas's shape, with the
// featured participant (or, with no featured one, a lone participant) over
// the whole canvas; the window is drawn over them. When the PiP
// participant is alone, DYNAMIC gives it the whole canvas and STATIC
// leaves it in its window (IVS's documented behaviours).
func layoutPip(canvas rect, cfg PipConfiguration, ps []Participant) []Tile {
	if len(ps) == 0 {
		return nil
	}
	pipIdx := -1
	if cfg.PipParticipantAttribute != "" {
		pipIdx = slices.IndexFunc(ps, func(p Participant) bool { return p.Attributes[cfg.PipParticipantAttribute] == "true" })
	}
	if pipIdx < 0 && len(ps) > 1 {
		pipIdx = 1
	}
	if pipIdx < 0 {
		return layoutGrid(canvas, nil, ps, canvas.ratio(), 0, cfg.VideoFillMode, cfg.VideoFillMode)
	}
	pip := ps[pipIdx]
	rest := append(slices.Clone(ps[:pipIdx]), ps[pipIdx+1:]...)
	if len(rest) == 0 && cfg.PipBehavior == PipDynamic {
		return []Tile{{pip.ID, canvas.x, canvas.y, canvas.w, canvas.h, cfg.VideoFillMode}}
	}
	featured, others := pickFeatured(rest, cfg.FeaturedParticipantAttribute)
	tiles := layoutGrid(canvas, featured, others, canvas.ratio(), max(*cfg.GridGap, 0), cfg.VideoFillMode, cfg.VideoFillMode)
	w := pipRect(canvas, cfg, pip)
	return append(tiles, Tile{pip.ID, w.x, w.y, w.w, w.h, cfg.VideoFillMode})
}

// pipRect is the PiP window. Unset, its size is derived (onair's rule; IVS
// says only "based on the size of the composition and the aspect ratio of
// the participant's video"): the participant's aspect ratio (the canvas's
// while unknown) at a sixteenth of the canvas's area, at most half the
// canvas each way; one of pipWidth, pipHeight set gives the other by the
// aspect ratio.
func pipRect(canvas rect, cfg PipConfiguration, p Participant) rect {
	a, ok := sourceRatio(p)
	if !ok {
		a = canvas.ratio()
	}
	// A size below 1 (invalid) counts as unset.
	if cfg.PipWidth != nil && *cfg.PipWidth < 1 {
		cfg.PipWidth = nil
	}
	if cfg.PipHeight != nil && *cfg.PipHeight < 1 {
		cfg.PipHeight = nil
	}
	var w, h int64
	switch {
	case cfg.PipWidth != nil && cfg.PipHeight != nil:
		w, h = side(*cfg.PipWidth), side(*cfg.PipHeight)
	case cfg.PipWidth != nil:
		w = side(*cfg.PipWidth)
		h = w * a.den / a.num
	case cfg.PipHeight != nil:
		h = side(*cfg.PipHeight)
		w = h * a.num / a.den
	default:
		area := float64(canvas.w) * float64(canvas.h) / 16
		w = int64(math.Sqrt(area * float64(a.num) / float64(a.den)))
		h = w * a.den / a.num
		if w > int64(canvas.w/2) || h > int64(canvas.h/2) {
			fw, fh := fit(int64(canvas.w/2), int64(canvas.h/2), a)
			w, h = int64(fw), int64(fh)
		}
	}
	off := ceilEven(min(max(*cfg.PipOffset, 0), maxCanvas))
	// The window keeps its size (at most the canvas's) and moves in by the
	// offset as far as the canvas allows (onair's choice: IVS does not say
	// which gives way when both cannot be had).
	r := rect{w: clampSide(w, canvas.w), h: clampSide(h, canvas.h)}
	left := cfg.PipPosition == PipTopLeft || cfg.PipPosition == PipBottomLeft
	top := cfg.PipPosition == PipTopLeft || cfg.PipPosition == PipTopRight
	r.x = edge(canvas.w, r.w, off, left)
	r.y = edge(canvas.h, r.h, off, top)
	r.x += canvas.x
	r.y += canvas.y
	return r
}

// side bounds a configured size so the arithmetic cannot overflow.
func side(v int) int64 { return int64(min(max(v, 0), maxCanvas)) }

// clampSide is v made even and within 2..limit (2 when limit is less).
func clampSide(v int64, limit int) int {
	return floorEven(int(min(max(v, 2), int64(max(limit, 2)))))
}

// edge is the window's coordinate along one axis: off from the near
// edge, rounded away from it to an even pixel, and never off the canvas.
func edge(size, w, off int, near bool) int {
	v := floorEven(size - w - off)
	if near {
		v = off
	}
	return min(max(v, 0), size-w)
}
