package archtest

import (
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/onair-video/onair"

// Package paths below, relative to the module.
const (
	stream = "internal/stream"
	config = "internal/config"
	store  = "internal/store"
	app    = "internal/app"
	cmd    = "cmd"
	// bench measures the stores themselves (its metrics phase writes as
	// the session tracker does), so it opens them, as cmd does.
	bench = "bench"
)

// engines may import these of onair's packages and no others: what a WHIP
// publisher, a WHEP viewer and an SFU share must not know about channels.
var engines = map[string][]string{
	stream:            nil,
	"internal/rtc":    {stream},
	"internal/ffmpeg": {stream},
	// The Stages SFU forwards RTP over rtc's peer connections; stages,
	// tokens and IVS are the control plane's.
	"internal/sfu": {"internal/rtc", stream},
	// RTP to units, shared by WHIP ingest and the Stages recorders.
	"internal/rtpmedia": {"internal/ffmpeg", stream},
}

// shared are packages the protocols share, each with the only onair
// packages it may import: one below every protocol, so that no protocol
// reaches another through it.
var shared = map[string][]string{
	"internal/conns": {"internal/live"},
}

// protocols are the packages that speak one protocol to clients.
var protocols = []string{"internal/ingest/rtmp", "internal/ingest/srt", "internal/ingest/whip", "internal/hls", "internal/whep", "internal/stage"}

// graph maps each of the module's packages (by path below the module) to
// the module's packages its non-test files import. Tests may import
// anything: a test of whip may well start an HLS server.
type graph map[string][]string

// under says whether pkg is dir or below it.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// reach returns every package pkg depends on, each with the chain of
// imports that gets there ("a → b → c"), for the message.
func (g graph) reach(pkg string) map[string]string {
	chain := map[string]string{pkg: pkg}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, d := range g[p] {
			if _, seen := chain[d]; !seen {
				chain[d] = chain[p] + " → " + d
				queue = append(queue, d)
			}
		}
	}
	delete(chain, pkg)
	return chain
}

// violations lists every import that breaks a rule, sorted.
func violations(g graph) []string {
	var out []string
	exists := func(pkg string) bool {
		if _, ok := g[pkg]; !ok {
			out = append(out, pkg+": no such package, so a rule about it is out of date")
			return false
		}
		return true
	}
	for pkg, allowed := range engines {
		if !exists(pkg) {
			continue
		}
		for d, chain := range g.reach(pkg) {
			if under(d, "internal") && !slices.Contains(allowed, d) {
				out = append(out, "an engine imports more than stream: "+chain)
			}
		}
	}
	for pkg, allowed := range shared {
		if !exists(pkg) {
			continue
		}
		for _, d := range g[pkg] {
			if !slices.Contains(allowed, d) {
				out = append(out, "a package the protocols share imports more than it may: "+pkg+" → "+d)
			}
		}
	}
	for _, pkg := range protocols {
		if !exists(pkg) {
			continue
		}
		for d, chain := range g.reach(pkg) {
			switch {
			case slices.Contains(protocols, d):
				out = append(out, "a protocol imports another: "+chain)
			case under(d, store), d == config:
				out = append(out, "a protocol reaches the store or config: "+chain)
			}
		}
	}
	exists(config)
	exists(store + "/sqlite")
	for pkg, imports := range g {
		for _, d := range imports {
			chooser := pkg == app || under(pkg, cmd) || pkg == bench
			if (d == config && !chooser) || (under(d, store) && !chooser && !under(pkg, store)) {
				out = append(out, "only app, cmd and bench may import config and the stores: "+pkg+" → "+d)
			}
		}
	}
	slices.Sort(out)
	return out
}

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module "+module+"\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("the module's go.mod not found above the test")
		}
		dir = parent
	}
}

// load reads the import graph of the module's packages from their files,
// as the go command would build them here.
func load(t *testing.T) graph {
	t.Helper()
	root := moduleRoot(t)
	g := graph{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root {
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module (third_party)
			}
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			if errors.As(err, new(*build.NoGoError)) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		var imports []string
		for _, i := range p.Imports {
			if d, ok := strings.CutPrefix(i, module+"/"); ok {
				imports = append(imports, d)
			}
		}
		g[filepath.ToSlash(rel)] = imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The module's imports keep the rules.
func TestImports(t *testing.T) {
	t.Parallel()
	for _, v := range violations(load(t)) {
		t.Error(v)
	}
}

// Each rule catches the import that breaks it.
func TestViolations(t *testing.T) {
	t.Parallel()
	valid := graph{
		"cmd/onair":             {app, config},
		app:                     {config, "internal/store/sqlite", "internal/whep", "internal/ingest/whip", "internal/hls", "internal/transcode"},
		config:                  nil,
		"internal/store/sqlite": {"internal/ivs"},
		"internal/ivs":          nil,
		"internal/live":         {"internal/ivs", stream},
		stream:                  nil,
		"internal/rtc":          {stream},
		"internal/sfu":          {"internal/rtc"},
		"internal/ffmpeg":       nil,
		"internal/transcode":    {"internal/ffmpeg", "internal/live"},
		"internal/whep":         {"internal/rtc", "internal/ffmpeg", "internal/live"},
		"internal/ingest/whip":  {"internal/rtc", "internal/ffmpeg", "internal/live", "internal/conns", "internal/rtpmedia"},
		"internal/rtpmedia":     {"internal/ffmpeg", stream},
		"internal/ingest/rtmp":  {"internal/live", "internal/conns"},
		"internal/ingest/srt":   {"internal/live", "internal/conns"},
		"internal/conns":        {"internal/live"},
		"internal/hls":          {"internal/live"},
		// The stage protocol's WHIP feeds the SFU.
		"internal/stage": {"internal/sfu", "internal/rtc"},
	}
	tests := []struct {
		name     string
		from, to string // the import added to valid; "" adds none
		want     string // in the one violation; "" wants none
	}{
		{"valid", "", "", ""},
		{"bench opens a store", bench, "internal/store/sqlite", ""},
		{"stream imports internal", stream, "internal/ivs", "an engine imports more than stream: internal/stream → internal/ivs"},
		{"rtc knows channels", "internal/rtc", "internal/live",
			"an engine imports more than stream: internal/rtc → internal/live"},
		{"the SFU knows stages", "internal/sfu", "internal/ivs",
			"an engine imports more than stream: internal/sfu → internal/ivs"},
		{"the SFU through rtc", "internal/rtc", "internal/live",
			"an engine imports more than stream: internal/sfu → internal/rtc → internal/live"},
		{"ffmpeg through a helper", "internal/ffmpeg", "internal/transcode",
			"an engine imports more than stream: internal/ffmpeg → internal/transcode"},
		{"rtpmedia knows channels", "internal/rtpmedia", "internal/live",
			"an engine imports more than stream: internal/rtpmedia → internal/live"},
		{"protocol imports protocol", "internal/whep", "internal/ingest/whip",
			"a protocol imports another: internal/whep → internal/ingest/whip"},
		{"protocol through the middle", "internal/live", "internal/hls",
			"a protocol imports another: internal/ingest/rtmp → internal/live → internal/hls"},
		{"shared package imports a protocol", "internal/conns", "internal/hls",
			"a package the protocols share imports more than it may: internal/conns → internal/hls"},
		{"shared package imports more than live", "internal/conns", "internal/ivs",
			"a package the protocols share imports more than it may: internal/conns → internal/ivs"},
		{"protocol reads config", "internal/ingest/srt", config, "a protocol reaches the store or config: internal/ingest/srt → internal/config"},
		{"protocol reaches the store", "internal/ivs", "internal/store/sqlite",
			"a protocol reaches the store or config: internal/hls → internal/live → internal/ivs → internal/store/sqlite"},
		{"transcode reads config", "internal/transcode", config,
			"only app, cmd and bench may import config and the stores: internal/transcode → internal/config"},
		{"transcode opens the store", "internal/transcode", "internal/store/sqlite",
			"only app, cmd and bench may import config and the stores: internal/transcode → internal/store/sqlite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := graph{}
			for k, v := range valid {
				g[k] = slices.Clone(v)
			}
			if tc.from != "" {
				g[tc.from] = append(g[tc.from], tc.to)
			}
			got := violations(g)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("violations in a valid graph: %q", got)
				}
				return
			}
			if !slices.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q among them", got, tc.want)
			}
		})
	}
	// A rule whose package is gone is reported, not passed in silence.
	g := graph{}
	for k, v := range valid {
		if k != "internal/whep" {
			g[k] = v
		}
	}
	if got := violations(g); !slices.Contains(got, "internal/whep: no such package, so a rule about it is out of date") {
		t.Fatalf("a missing protocol package: %q", got)
	}
}
