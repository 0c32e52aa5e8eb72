package compose

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
)

// people returns n participants p1..pn that arrived in that order.
func people(n int) []Participant {
	ps := make([]Participant, n)
	for i := range ps {
		ps[i] = Participant{ID: fmt.Sprintf("p%d", i+1), JoinOrder: int64(i)}
	}
	return ps
}

// rects renders tiles as "x,y,w,h ..." for comparison with the tables.
func rects(tiles []Tile) string {
	s := make([]string, len(tiles))
	for i, t := range tiles {
		s[i] = fmt.Sprintf("%d,%d,%d,%d", t.X, t.Y, t.W, t.H)
	}
	return strings.Join(s, " ")
}

func ids(tiles []Tile) string {
	s := make([]string, len(tiles))
	for i, t := range tiles {
		s[i] = t.ParticipantID
	}
	return strings.Join(s, " ")
}

func fills(tiles []Tile) string {
	s := make([]string, len(tiles))
	for i, t := range tiles {
		s[i] = string(t.Fill)
	}
	return strings.Join(s, " ")
}

// The default grid (16:9 tiles, gap 2) for 1 to 12 participants on a
// landscape and a portrait canvas, in arrival order.
func TestGridDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		w, h, n int
		want    string
	}{
		{1280, 720, 1, "0,0,1280,720"},
		{1280, 720, 2, "0,180,638,358 640,180,638,358"},
		{1280, 720, 3, "0,0,638,358 640,0,638,358 320,360,638,358"},
		{1280, 720, 4, "0,0,638,358 640,0,638,358 0,360,638,358 640,360,638,358"},
		{1280, 720, 5, "2,120,424,238 428,120,424,238 854,120,424,238 214,360,424,238 640,360,424,238"},
		{1280, 720, 6, "2,120,424,238 428,120,424,238 854,120,424,238 2,360,424,238 428,360,424,238 854,360,424,238"},
		{1280, 720, 7, "4,0,422,238 428,0,422,238 852,0,422,238 4,240,422,238 428,240,422,238 852,240,422,238 428,480,422,238"},
		{1280, 720, 8, "4,0,422,238 428,0,422,238 852,0,422,238 4,240,422,238 428,240,422,238 852,240,422,238 216,480,422,238 640,480,422,238"},
		{1280, 720, 9, "4,0,422,238 428,0,422,238 852,0,422,238 4,240,422,238 428,240,422,238 852,240,422,238 4,480,422,238 428,480,422,238 852,480,422,238"},
		{1280, 720, 10, "0,90,318,178 320,90,318,178 640,90,318,178 960,90,318,178 0,270,318,178 320,270,318,178 640,270,318,178 960,270,318,178 320,450,318,178 640,450,318,178"},
		{1280, 720, 11, "0,90,318,178 320,90,318,178 640,90,318,178 960,90,318,178 0,270,318,178 320,270,318,178 640,270,318,178 960,270,318,178 160,450,318,178 480,450,318,178 800,450,318,178"},
		{1280, 720, 12, "0,90,318,178 320,90,318,178 640,90,318,178 960,90,318,178 0,270,318,178 320,270,318,178 640,270,318,178 960,270,318,178 0,450,318,178 320,450,318,178 640,450,318,178 960,450,318,178"},
		{720, 1280, 1, "0,438,720,404"},
		{720, 1280, 2, "0,234,720,404 0,640,720,404"},
		{720, 1280, 3, "0,32,720,404 0,438,720,404 0,844,720,404"},
		{720, 1280, 4, "78,0,564,318 78,320,564,318 78,640,564,318 78,960,564,318"},
		{720, 1280, 5, "134,0,450,254 134,256,450,254 134,512,450,254 134,768,450,254 134,1024,450,254"},
		{720, 1280, 6, "172,4,374,210 172,216,374,210 172,428,374,210 172,640,374,210 172,852,374,210 172,1064,374,210"},
		{720, 1280, 7, "0,236,358,200 360,236,358,200 0,438,358,200 360,438,358,200 0,640,358,200 360,640,358,200 180,842,358,200"},
		{720, 1280, 8, "0,236,358,200 360,236,358,200 0,438,358,200 360,438,358,200 0,640,358,200 360,640,358,200 0,842,358,200 360,842,358,200"},
		{720, 1280, 9, "0,136,358,200 360,136,358,200 0,338,358,200 360,338,358,200 0,540,358,200 360,540,358,200 0,742,358,200 360,742,358,200 180,944,358,200"},
		{720, 1280, 10, "0,136,358,200 360,136,358,200 0,338,358,200 360,338,358,200 0,540,358,200 360,540,358,200 0,742,358,200 360,742,358,200 0,944,358,200 360,944,358,200"},
		{720, 1280, 11, "0,34,358,200 360,34,358,200 0,236,358,200 360,236,358,200 0,438,358,200 360,438,358,200 0,640,358,200 360,640,358,200 0,842,358,200 360,842,358,200 180,1044,358,200"},
		{720, 1280, 12, "0,34,358,200 360,34,358,200 0,236,358,200 360,236,358,200 0,438,358,200 360,438,358,200 0,640,358,200 360,640,358,200 0,842,358,200 360,842,358,200 0,1044,358,200 360,1044,358,200"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d/%d", tt.w, tt.h, tt.n), func(t *testing.T) {
			t.Parallel()
			tiles := Layout(tt.w, tt.h, Configuration{}, people(tt.n))
			if got := rects(tiles); got != tt.want {
				t.Errorf("rects\n got %s\nwant %s", got, tt.want)
			}
			var want []string
			for i := range tt.n {
				want = append(want, fmt.Sprintf("p%d", i+1))
			}
			if got := ids(tiles); got != strings.Join(want, " ") {
				t.Errorf("order %s", got)
			}
			if got := fills(tiles); got != strings.TrimSpace(strings.Repeat("COVER ", tt.n)) {
				t.Errorf("fills %s", got)
			}
			checkTiles(t, tt.w, tt.h, Configuration{}, people(tt.n), tiles)
		})
	}
}

func TestNoParticipants(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Configuration{{}, {Pip: &PipConfiguration{}}} {
		if tiles := Layout(1280, 720, cfg, nil); tiles != nil {
			t.Errorf("%+v: %v", cfg, tiles)
		}
	}
	if tiles := Layout(1, 720, Configuration{}, people(3)); tiles != nil {
		t.Errorf("a canvas 1 pixel wide: %v", tiles)
	}
}

func withAttrs(p Participant, kv ...string) Participant {
	p.Attributes = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		p.Attributes[kv[i]] = kv[i+1]
	}
	return p
}

// IVS's documented ordering: numeric values first (negative before
// positive, "10" after "9"), then arrival order; invalid values are
// arrival-ordered; ties by arrival.
func TestOrderAttribute(t *testing.T) {
	t.Parallel()
	ps := people(8)
	ps[0] = withAttrs(ps[0], "order", "10")
	ps[1] = withAttrs(ps[1], "order", "9")
	ps[2] = withAttrs(ps[2], "order", "abc")
	ps[3] = withAttrs(ps[3], "order", "-1")
	ps[4] = withAttrs(ps[4], "order", "1.5")
	ps[5] = withAttrs(ps[5], "order", "9")
	ps[6] = withAttrs(ps[6], "other", "1")
	// p8 arrived first of all but has no order.
	ps[7].JoinOrder = -5
	cfg := Configuration{Grid: &GridConfiguration{ParticipantOrderAttribute: "order"}}
	tiles := Layout(1280, 720, cfg, ps)
	if got, want := ids(tiles), "p4 p2 p6 p1 p8 p3 p5 p7"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	// Without the attribute configured: arrival, then id on equal arrival.
	ps[1].JoinOrder = ps[0].JoinOrder
	ps[0].ID, ps[1].ID = "b", "a"
	tiles = Layout(1280, 720, Configuration{}, ps)
	if got, want := ids(tiles), "p8 a b p3 p4 p5 p6 p7"; got != want {
		t.Errorf("arrival order %q, want %q", got, want)
	}
	// The input's order does not matter.
	rev := make([]Participant, len(ps))
	for i, p := range ps {
		rev[len(ps)-1-i] = p
	}
	if got := ids(Layout(1280, 720, Configuration{}, rev)); got != ids(tiles) {
		t.Errorf("reversed input %q", got)
	}
}

func TestFeatured(t *testing.T) {
	t.Parallel()
	grid := func(g GridConfiguration) Configuration {
		g.FeaturedParticipantAttribute = "star"
		return Configuration{Grid: &g}
	}
	tests := []struct {
		name     string
		w, h     int
		cfg      Configuration
		n        int
		featured []int // indexes with star=true
		ids      string
		rects    string
		fills    string
	}{
		{"alone", 1280, 720, grid(GridConfiguration{}), 1, []int{0}, "p1", "0,0,1280,720", "CONTAIN"},
		{"with one", 1280, 720, grid(GridConfiguration{}), 2, []int{1}, "p2 p1",
			"0,0,852,720 854,240,426,238", "CONTAIN COVER"},
		{"with three", 1280, 720, grid(GridConfiguration{}), 4, []int{2}, "p3 p1 p2 p4",
			"0,0,852,720 856,0,422,238 856,240,422,238 856,480,422,238", "CONTAIN COVER COVER COVER"},
		{"portrait", 720, 1280, grid(GridConfiguration{}), 3, []int{0}, "p1 p2 p3",
			"0,0,720,852 172,854,376,212 172,1068,376,212", "CONTAIN COVER COVER"},
		{"two claim it", 1280, 720, grid(GridConfiguration{}), 3, []int{1, 2}, "p2 p1 p3",
			"0,0,852,720 854,120,426,238 854,360,426,238", "CONTAIN COVER COVER"},
		{"fill mode set", 1280, 720, grid(GridConfiguration{VideoFillMode: FillFill}), 2, []int{0}, "p1 p2",
			"0,0,852,720 854,240,426,238", "FILL FILL"},
		{"nobody", 1280, 720, grid(GridConfiguration{}), 2, nil, "p1 p2",
			"0,180,638,358 640,180,638,358", "COVER COVER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := people(tt.n)
			for _, i := range tt.featured {
				ps[i] = withAttrs(ps[i], "star", "true")
			}
			tiles := Layout(tt.w, tt.h, tt.cfg, ps)
			if got := ids(tiles); got != tt.ids {
				t.Errorf("ids %q, want %q", got, tt.ids)
			}
			if got := rects(tiles); got != tt.rects {
				t.Errorf("rects\n got %s\nwant %s", got, tt.rects)
			}
			if got := fills(tiles); got != tt.fills {
				t.Errorf("fills %q, want %q", got, tt.fills)
			}
			checkTiles(t, tt.w, tt.h, tt.cfg, ps, tiles)
		})
	}
}

func TestOmitStoppedVideo(t *testing.T) {
	t.Parallel()
	ps := people(3)
	ps[1].VideoStopped = true
	if got := ids(Layout(1280, 720, Configuration{}, ps)); got != "p1 p2 p3" {
		t.Errorf("kept: %q", got)
	}
	cfg := Configuration{Grid: &GridConfiguration{OmitStoppedVideo: true}}
	tiles := Layout(1280, 720, cfg, ps)
	if got := ids(tiles); got != "p1 p3" {
		t.Errorf("omitted: %q", got)
	}
	if got, want := rects(tiles), rects(Layout(1280, 720, Configuration{}, people(2))); got != want {
		t.Errorf("omitted: %s, want the layout of two: %s", got, want)
	}
	pip := Configuration{Pip: &PipConfiguration{OmitStoppedVideo: true}}
	if got := ids(Layout(1280, 720, pip, ps)); got != "p1 p3" {
		t.Errorf("pip omitted: %q", got)
	}
}

func TestGridGapAndAspect(t *testing.T) {
	t.Parallel()
	src := func(n int, w, h int) []Participant {
		ps := people(n)
		for i := range ps {
			ps[i].Width, ps[i].Height = w, h
		}
		return ps
	}
	mixed := people(3)
	mixed[0].Width, mixed[0].Height = 1280, 720
	mixed[1].Width, mixed[1].Height = 360, 640
	mixed[2].Width, mixed[2].Height = 720, 1280
	tests := []struct {
		name string
		w, h int
		g    GridConfiguration
		ps   []Participant
		want string
	}{
		{"gap 0", 1280, 720, GridConfiguration{GridGap: intp(0)}, people(4),
			"0,0,640,360 640,0,640,360 0,360,640,360 640,360,640,360"},
		{"gap 10", 1280, 720, GridConfiguration{GridGap: intp(10)}, people(2),
			"0,182,634,356 644,182,634,356"},
		{"odd gap 3 is 4", 1280, 720, GridConfiguration{GridGap: intp(3)}, people(2),
			"0,180,638,358 642,180,638,358"},
		{"square", 1280, 720, GridConfiguration{VideoAspectRatio: AspectSquare}, people(2),
			"0,40,638,638 640,40,638,638"},
		{"portrait", 1280, 720, GridConfiguration{VideoAspectRatio: AspectPortrait}, people(3),
			"2,76,424,566 428,76,424,566 854,76,424,566"},
		{"portrait on portrait", 720, 1280, GridConfiguration{VideoAspectRatio: AspectPortrait}, people(1),
			"0,160,720,960"},
		{"auto from sources", 720, 1280, GridConfiguration{VideoAspectRatio: AspectAuto}, src(2, 360, 640),
			"180,0,358,638 180,640,358,638"},
		{"auto: the most common", 1280, 720, GridConfiguration{VideoAspectRatio: AspectAuto}, mixed,
			"32,0,404,720 438,0,404,720 844,0,404,720"},
		{"auto, sizes unknown: 16:9", 1280, 720, GridConfiguration{VideoAspectRatio: AspectAuto}, people(1),
			"0,0,1280,720"},
		{"auto, extreme source clamped to 4:1", 1280, 720, GridConfiguration{VideoAspectRatio: AspectAuto}, src(1, 4000, 10),
			"0,200,1280,320"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Configuration{Grid: &tt.g}
			tiles := Layout(tt.w, tt.h, cfg, tt.ps)
			if got := rects(tiles); got != tt.want {
				t.Errorf("rects\n got %s\nwant %s", got, tt.want)
			}
			checkTiles(t, tt.w, tt.h, cfg, tt.ps, tiles)
		})
	}
}

func TestPip(t *testing.T) {
	t.Parallel()
	pip := func(p PipConfiguration) Configuration { return Configuration{Pip: &p} }
	portrait := func(ps []Participant, i int) []Participant {
		ps[i].Width, ps[i].Height = 720, 1280
		return ps
	}
	tagged := func(ps []Participant, i int, attr string) []Participant {
		ps[i] = withAttrs(ps[i], attr, "true")
		return ps
	}
	tests := []struct {
		name  string
		w, h  int
		cfg   Configuration
		ps    []Participant
		ids   string
		rects string
	}{
		{"one: full canvas", 1280, 720, pip(PipConfiguration{}), people(1), "p1", "0,0,1280,720"},
		{"two: second in the window", 1280, 720, pip(PipConfiguration{}), people(2), "p1 p2",
			"0,0,1280,720 960,540,320,180"},
		{"portrait canvas", 720, 1280, pip(PipConfiguration{}), people(2), "p1 p2",
			"0,0,720,1280 540,960,180,320"},
		{"portrait source on landscape canvas", 1280, 720, pip(PipConfiguration{}), portrait(people(2), 1), "p1 p2",
			"0,0,1280,720 1100,400,180,320"},
		{"top left, offset 20", 1280, 720, pip(PipConfiguration{PipPosition: PipTopLeft, PipOffset: intp(20)}), people(2), "p1 p2",
			"0,0,1280,720 20,20,320,180"},
		{"top right, odd offset 15", 1280, 720, pip(PipConfiguration{PipPosition: PipTopRight, PipOffset: intp(15)}), people(2), "p1 p2",
			"0,0,1280,720 944,16,320,180"},
		{"bottom left", 1280, 720, pip(PipConfiguration{PipPosition: PipBottomLeft, PipOffset: intp(10)}), people(2), "p1 p2",
			"0,0,1280,720 10,530,320,180"},
		{"pipWidth", 1280, 720, pip(PipConfiguration{PipWidth: intp(400)}), people(2), "p1 p2",
			"0,0,1280,720 880,496,400,224"},
		{"pipHeight", 1280, 720, pip(PipConfiguration{PipHeight: intp(360)}), portrait(people(2), 1), "p1 p2",
			"0,0,1280,720 1078,360,202,360"},
		{"both, odd", 1280, 720, pip(PipConfiguration{PipWidth: intp(301), PipHeight: intp(99)}), people(2), "p1 p2",
			"0,0,1280,720 980,622,300,98"},
		{"larger than the canvas", 1280, 720, pip(PipConfiguration{PipWidth: intp(5000), PipHeight: intp(5000), PipOffset: intp(10)}), people(2), "p1 p2",
			"0,0,1280,720 0,0,1280,720"},
		{"offset beyond the room left, top left", 1280, 720, pip(PipConfiguration{PipPosition: PipTopLeft, PipWidth: intp(1275), PipHeight: intp(700), PipOffset: intp(10)}), people(2), "p1 p2",
			"0,0,1280,720 6,10,1274,700"},
		{"offset past the canvas", 1280, 720, pip(PipConfiguration{PipOffset: intp(100000)}), people(2), "p1 p2",
			"0,0,1280,720 0,0,320,180"},
		{"attribute picks the window", 1280, 720, pip(PipConfiguration{PipParticipantAttribute: "guest"}), tagged(people(3), 0, "guest"), "p2 p3 p1",
			"0,180,640,360 640,180,640,360 960,540,320,180"},
		{"featured main", 1280, 720, pip(PipConfiguration{PipParticipantAttribute: "guest", FeaturedParticipantAttribute: "host"}),
			tagged(tagged(people(3), 0, "guest"), 2, "host"), "p3 p2 p1",
			"0,0,852,720 852,240,428,240 960,540,320,180"},
		{"alone, STATIC", 1280, 720, pip(PipConfiguration{PipParticipantAttribute: "guest"}), tagged(people(1), 0, "guest"), "p1",
			"960,540,320,180"},
		{"alone, DYNAMIC", 1280, 720, pip(PipConfiguration{PipParticipantAttribute: "guest", PipBehavior: PipDynamic}), tagged(people(1), 0, "guest"), "p1",
			"0,0,1280,720"},
		{"DYNAMIC, not alone", 1280, 720, pip(PipConfiguration{PipBehavior: PipDynamic}), people(2), "p1 p2",
			"0,0,1280,720 960,540,320,180"},
		{"gap in the main grid", 1280, 720, pip(PipConfiguration{GridGap: intp(4)}), people(3), "p1 p3 p2",
			"0,180,638,358 642,180,638,358 960,540,320,180"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tiles := Layout(tt.w, tt.h, tt.cfg, tt.ps)
			if got := ids(tiles); got != tt.ids {
				t.Errorf("ids %q, want %q", got, tt.ids)
			}
			if got := rects(tiles); got != tt.rects {
				t.Errorf("rects\n got %s\nwant %s", got, tt.rects)
			}
			for _, tl := range tiles {
				if tl.Fill != FillCover {
					t.Errorf("fill %s, want pip's default COVER", tl.Fill)
				}
			}
			checkTiles(t, tt.w, tt.h, tt.cfg, tt.ps, tiles)
		})
	}
	if got := fills(Layout(1280, 720, pip(PipConfiguration{VideoFillMode: FillContain}), people(2))); got != "CONTAIN CONTAIN" {
		t.Errorf("pip fill CONTAIN: %s", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   Configuration
		field string
	}{
		{Configuration{}, ""},
		{Configuration{Grid: &GridConfiguration{GridGap: intp(0), VideoAspectRatio: AspectAuto, VideoFillMode: FillContain, FeaturedParticipantAttribute: "a-B_9"}}, ""},
		{Configuration{Pip: &PipConfiguration{PipWidth: intp(1), PipHeight: intp(1), PipOffset: intp(0), PipBehavior: PipDynamic, PipPosition: PipTopLeft}}, ""},
		{Configuration{Grid: &GridConfiguration{}, Pip: &PipConfiguration{}}, "layout"},
		{Configuration{Grid: &GridConfiguration{GridGap: intp(-1)}}, "layout.grid.gridGap"},
		{Configuration{Grid: &GridConfiguration{VideoAspectRatio: "WIDE"}}, "layout.grid.videoAspectRatio"},
		{Configuration{Grid: &GridConfiguration{VideoFillMode: "cover"}}, "layout.grid.videoFillMode"},
		{Configuration{Grid: &GridConfiguration{FeaturedParticipantAttribute: "a b"}}, "layout.grid.featuredParticipantAttribute"},
		{Configuration{Grid: &GridConfiguration{ParticipantOrderAttribute: strings.Repeat("a", 129)}}, "layout.grid.participantOrderAttribute"},
		{Configuration{Pip: &PipConfiguration{PipParticipantAttribute: "é"}}, "layout.pip.pipParticipantAttribute"},
		{Configuration{Pip: &PipConfiguration{FeaturedParticipantAttribute: "x.y"}}, "layout.pip.featuredParticipantAttribute"},
		{Configuration{Pip: &PipConfiguration{ParticipantOrderAttribute: "x/y"}}, "layout.pip.participantOrderAttribute"},
		{Configuration{Pip: &PipConfiguration{VideoFillMode: "STRETCH"}}, "layout.pip.videoFillMode"},
		{Configuration{Pip: &PipConfiguration{PipBehavior: "FLOAT"}}, "layout.pip.pipBehavior"},
		{Configuration{Pip: &PipConfiguration{PipPosition: "CENTER"}}, "layout.pip.pipPosition"},
		{Configuration{Pip: &PipConfiguration{GridGap: intp(-2)}}, "layout.pip.gridGap"},
		{Configuration{Pip: &PipConfiguration{PipOffset: intp(-1)}}, "layout.pip.pipOffset"},
		{Configuration{Pip: &PipConfiguration{PipWidth: intp(0)}}, "layout.pip.pipWidth"},
		{Configuration{Pip: &PipConfiguration{PipHeight: intp(-3)}}, "layout.pip.pipHeight"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.cfg, err)
			}
			continue
		}
		e, ok := ivs.AsError(err)
		if !ok || e.Code != ivs.CodeValidation || e.Field != tt.field || !strings.Contains(e.Message, tt.field) {
			t.Errorf("want a ValidationException naming %s, got %v (%+v)", tt.field, err, e)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := Configuration{}.WithDefaults()
	if c.Pip != nil || c.Grid == nil || *c.Grid.GridGap != 2 || c.Grid.VideoAspectRatio != AspectVideo || c.Grid.VideoFillMode != "" {
		t.Errorf("grid defaults: %+v", c.Grid)
	}
	p := Configuration{Pip: &PipConfiguration{}}.WithDefaults()
	if p.Grid != nil || *p.Pip.GridGap != 0 || *p.Pip.PipOffset != 0 || p.Pip.PipBehavior != PipStatic ||
		p.Pip.PipPosition != PipBottomRight || p.Pip.VideoFillMode != FillCover || p.Pip.PipWidth != nil || p.Pip.PipHeight != nil {
		t.Errorf("pip defaults: %+v", p.Pip)
	}
	// Set members are kept.
	g := Configuration{Grid: &GridConfiguration{GridGap: intp(0), VideoAspectRatio: AspectSquare}}.WithDefaults()
	if *g.Grid.GridGap != 0 || g.Grid.VideoAspectRatio != AspectSquare {
		t.Errorf("set members changed: %+v", g.Grid)
	}
}

// checkTiles checks what holds of every layout: tiles on the canvas, even
// and at least 2x2, one per participant at most, of participants the
// layout shows, and the grid's tiles (all but a PiP window, drawn last)
// apart from each other by at least the gap when strict.
func checkTiles(t testing.TB, w, h int, cfg Configuration, ps []Participant, tiles []Tile) {
	t.Helper()
	checkLayout(t, w, h, cfg, ps, tiles, true)
}

func checkLayout(t testing.TB, w, h int, cfg Configuration, ps []Participant, tiles []Tile, strict bool) {
	t.Helper()
	cfg = cfg.WithDefaults()
	known := map[string]Participant{}
	for _, p := range ps {
		known[p.ID] = p
	}
	seen := map[string]bool{}
	W, H := floorEven(min(w, maxCanvas)), floorEven(min(h, maxCanvas))
	for _, tl := range tiles {
		if tl.X < 0 || tl.Y < 0 || tl.W < 2 || tl.H < 2 || tl.X+tl.W > W || tl.Y+tl.H > H {
			t.Fatalf("%+v is not within the %dx%d canvas", tl, W, H)
		}
		if tl.X%2 != 0 || tl.Y%2 != 0 || tl.W%2 != 0 || tl.H%2 != 0 {
			t.Fatalf("%+v is not even", tl)
		}
		p, ok := known[tl.ParticipantID]
		if !ok || seen[tl.ParticipantID] {
			t.Fatalf("%+v: unknown or repeated participant", tl)
		}
		seen[tl.ParticipantID] = true
		if p.VideoStopped && ((cfg.Grid != nil && cfg.Grid.OmitStoppedVideo) || (cfg.Pip != nil && cfg.Pip.OmitStoppedVideo)) {
			t.Fatalf("%+v: stopped video shown", tl)
		}
		switch tl.Fill {
		case FillFill, FillCover, FillContain:
		default:
			t.Fatalf("%+v: fill mode", tl)
		}
	}
	grid, gap := tiles, 0
	if cfg.Pip != nil {
		if len(tiles) > 1 {
			grid = tiles[:len(tiles)-1]
		}
		gap = *cfg.Pip.GridGap
	} else {
		gap = *cfg.Grid.GridGap
	}
	if !strict {
		gap = 0
	}
	for i, a := range grid {
		for _, b := range grid[i+1:] {
			if a.X+a.W+gap > b.X && b.X+b.W+gap > a.X && a.Y+a.H+gap > b.Y && b.Y+b.H+gap > a.Y {
				t.Fatalf("%+v and %+v overlap or are closer than the gap %d", a, b, gap)
			}
		}
	}
	if strict {
		shown := 0
		for _, p := range ps {
			if !p.VideoStopped || (cfg.Grid != nil && !cfg.Grid.OmitStoppedVideo) || (cfg.Pip != nil && !cfg.Pip.OmitStoppedVideo) {
				shown++
			}
		}
		if len(tiles) != shown {
			t.Fatalf("%d tiles for %d participants shown", len(tiles), shown)
		}
	}
}

// randomInput is a configuration and participants drawn from r; reasonable
// keeps canvases, gaps and counts within what StartComposition allows, where
// every participant must get a tile and every gap must hold.
func randomInput(r *rand.Rand, reasonable bool) (int, int, Configuration, []Participant) {
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	w, h := 2+r.IntN(1919), 2+r.IntN(1919)
	maxGap, n := 1<<20, r.IntN(40)
	if reasonable {
		w, h = 320+r.IntN(1601), 320+r.IntN(1601)
		maxGap, n = 17, r.IntN(13)
	}
	gap := intp(r.IntN(maxGap))
	if r.IntN(4) == 0 {
		gap = nil
	}
	var cfg Configuration
	if r.IntN(2) == 0 {
		cfg.Grid = &GridConfiguration{
			FeaturedParticipantAttribute: pick("", "star"),
			ParticipantOrderAttribute:    pick("", "order"),
			OmitStoppedVideo:             r.IntN(2) == 0,
			VideoAspectRatio:             AspectRatio(pick("", "VIDEO", "SQUARE", "PORTRAIT", "AUTO")),
			VideoFillMode:                FillMode(pick("", "FILL", "COVER", "CONTAIN")),
			GridGap:                      gap,
		}
	} else {
		p := &PipConfiguration{
			FeaturedParticipantAttribute: pick("", "star"),
			ParticipantOrderAttribute:    pick("", "order"),
			OmitStoppedVideo:             r.IntN(2) == 0,
			VideoFillMode:                FillMode(pick("", "FILL", "COVER", "CONTAIN")),
			GridGap:                      gap,
			PipParticipantAttribute:      pick("", "guest"),
			PipBehavior:                  PipBehavior(pick("", "STATIC", "DYNAMIC")),
			PipPosition:                  PipPosition(pick("", "TOP_LEFT", "TOP_RIGHT", "BOTTOM_LEFT", "BOTTOM_RIGHT")),
			PipOffset:                    intp(r.IntN(maxGap * 4)),
		}
		if r.IntN(2) == 0 {
			p.PipWidth = intp(1 + r.IntN(2*w))
		}
		if r.IntN(2) == 0 {
			p.PipHeight = intp(1 + r.IntN(2*h))
		}
		cfg.Pip = p
	}
	ps := make([]Participant, n)
	for i := range ps {
		ps[i] = Participant{
			ID:           fmt.Sprintf("p%d", i),
			JoinOrder:    int64(r.IntN(5)),
			VideoStopped: r.IntN(4) == 0,
			Attributes:   map[string]string{"star": pick("true", "false", ""), "guest": pick("true", ""), "order": pick("", "1", "-3", "x", "2")},
		}
		if r.IntN(3) > 0 {
			ps[i].Width, ps[i].Height = 1+r.IntN(1920), 1+r.IntN(1920)
		}
	}
	return w, h, cfg, ps
}

// Over many random inputs the properties hold and the layout is a function
// of its input.
func TestLayoutProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(22, 1))
	for i := range 5000 {
		reasonable := i%2 == 0
		w, h, cfg, ps := randomInput(r, reasonable)
		tiles := Layout(w, h, cfg, ps)
		checkLayout(t, w, h, cfg, ps, tiles, reasonable)
		if again := Layout(w, h, cfg, ps); rects(again) != rects(tiles) || ids(again) != ids(tiles) {
			t.Fatalf("not deterministic: %v then %v", tiles, again)
		}
	}
}

func FuzzLayout(f *testing.F) {
	f.Add(uint64(1), uint64(2), 1280, 720, 3)
	f.Add(uint64(7), uint64(9), 720, 1280, 12)
	f.Add(uint64(3), uint64(4), 2, 2, 40)
	f.Fuzz(func(t *testing.T, s1, s2 uint64, w, h, n int) {
		r := rand.New(rand.NewPCG(s1, s2))
		_, _, cfg, ps := randomInput(r, false)
		if n >= 0 && n < len(ps) {
			ps = ps[:n]
		}
		tiles := Layout(w, h, cfg, ps)
		checkLayout(t, w, h, cfg, ps, tiles, false)
	})
}

// The members decode from IVS's JSON names, and an absent gridGap stays
// apart from a zero one.
func TestJSON(t *testing.T) {
	t.Parallel()
	var c Configuration
	in := `{"grid":{"featuredParticipantAttribute":"f","participantOrderAttribute":"o","omitStoppedVideo":true,` +
		`"videoAspectRatio":"AUTO","videoFillMode":"CONTAIN","gridGap":0}}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	g := c.Grid
	if c.Pip != nil || g.FeaturedParticipantAttribute != "f" || g.ParticipantOrderAttribute != "o" || !g.OmitStoppedVideo ||
		g.VideoAspectRatio != AspectAuto || g.VideoFillMode != FillContain || g.GridGap == nil || *g.GridGap != 0 {
		t.Errorf("grid %+v", g)
	}
	c = Configuration{}
	in = `{"pip":{"pipParticipantAttribute":"g","pipBehavior":"DYNAMIC","pipPosition":"TOP_LEFT","pipOffset":8,` +
		`"pipWidth":400,"pipHeight":300,"gridGap":4,"videoFillMode":"FILL","featuredParticipantAttribute":"f"}}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	p := c.Pip
	if c.Grid != nil || p.PipParticipantAttribute != "g" || p.PipBehavior != PipDynamic || p.PipPosition != PipTopLeft ||
		*p.PipOffset != 8 || *p.PipWidth != 400 || *p.PipHeight != 300 || *p.GridGap != 4 || p.VideoFillMode != FillFill ||
		p.FeaturedParticipantAttribute != "f" {
		t.Errorf("pip %+v", p)
	}
	c = Configuration{}
	if err := json.Unmarshal([]byte(`{"grid":{}}`), &c); err != nil || c.Grid.GridGap != nil || *c.WithDefaults().Grid.GridGap != 2 {
		t.Errorf("absent gridGap: %v %+v", err, c.Grid)
	}
}

// An invalid configuration still lays out, with the defaults in place of
// the values it does not know.
func TestInvalidLaidOut(t *testing.T) {
	t.Parallel()
	grid := Configuration{Grid: &GridConfiguration{VideoFillMode: "cover", VideoAspectRatio: "WIDE", GridGap: intp(-4)}}
	tiles := Layout(1280, 720, grid, people(2))
	if got, want := rects(tiles), "0,180,640,360 640,180,640,360"; got != want || fills(tiles) != "COVER COVER" {
		t.Errorf("grid: %s %s, want %s", got, fills(tiles), want)
	}
	pip := Configuration{Pip: &PipConfiguration{VideoFillMode: "x", PipPosition: "CENTER", PipOffset: intp(-8), PipWidth: intp(-1)}}
	tiles = Layout(1280, 720, pip, people(2))
	if got, want := rects(tiles), "0,0,1280,720 960,540,320,180"; got != want || fills(tiles) != "COVER COVER" {
		t.Errorf("pip: %s %s, want %s", got, fills(tiles), want)
	}
}
