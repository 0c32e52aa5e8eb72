package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// onair ships nothing of Amazon's: the amazon-ivs-* npm packages (IVS's chat
// client, player and broadcast SDK) are AWS Content, which web/ may use as
// devDependencies to test onair against, never bundle into the pages the
// binary embeds. These tests look for the packages in what Vite built
// (dist/), by name and by the string literals of their code, which survive
// minification.

// Where web/ is, seen from this package.
const webDir = "../../web"

// namePrefix is how every package of theirs is named: a source map, a
// legal comment or an import left in a chunk names it.
const namePrefix = "amazon-ivs-"

// minLiteral is the shortest literal of a package taken as its
// fingerprint: shorter ones ("message", "connect") are everyone's.
const minLiteral = 20

// maxLiteral cuts long literals (a worker's source, a base64 blob): their
// start is as distinctive, and a bundler re-escaping something further on
// does not hide them.
const maxLiteral = 96

// fingerprint is a string found in an amazon-ivs-* package's code.
type fingerprint struct {
	pkg, text string
}

// hit is a fingerprint found in a file.
type hit struct {
	file string
	fp   fingerprint
}

// literals returns the bodies of a JavaScript file's string literals
// ('…', "…" and the text between a template literal's expressions). It is
// a lexer's rough cut: it does not know regular expression literals or
// comments, so a few "literals" are stretches of code; they are the
// package's text all the same, only less likely to be found elsewhere.
func literals(src []byte) []string {
	var out []string
	for i := 0; i < len(src); i++ {
		q := src[i]
		if q != '"' && q != '\'' && q != '`' {
			continue
		}
		start := i + 1
		j := start
		for ; j < len(src) && src[j] != q && (q == '`' || src[j] != '\n'); j++ {
			if src[j] == '\\' {
				j++
			} else if q == '`' && src[j] == '$' && j+1 < len(src) && src[j+1] == '{' {
				out = append(out, string(src[start:j]))
				// Skip the expression, braces balanced, to the text after it.
				depth := 0
				for j += 2; j < len(src) && (depth > 0 || src[j] != '}'); j++ {
					switch src[j] {
					case '{':
						depth++
					case '}':
						depth--
					}
				}
				start = j + 1
			}
		}
		if j < len(src) && src[j] == q && j >= start {
			out = append(out, string(src[start:j]))
		}
		i = j
	}
	return out
}

// distinctive says whether a literal is worth a fingerprint: prose or
// code of a few words (a single word, like "sessionExpirationTime" or
// "icegatheringstatechange", is an API's or a standard's name, which onair
// uses too), long enough, mostly letters, and with no escape (a bundler may
// write é for \u00e9, or the other way round).
func distinctive(s string) bool {
	if len(s) < minLiteral || strings.ContainsAny(s, "\\\n") || strings.Count(s, " ") < 2 {
		return false
	}
	letters := 0
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			letters++
		}
	}
	return letters >= minLiteral/2
}

// isJS says whether a package file is code that a bundler would take.
func isJS(name string) bool {
	switch filepath.Ext(name) {
	case ".js", ".mjs", ".cjs":
		return true
	}
	return false
}

// amazonPackages returns the amazon-ivs-* package directories under
// nodeModules.
func amazonPackages(nodeModules string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(nodeModules, namePrefix+"*"))
	sort.Strings(dirs)
	return dirs, err
}

// packageFingerprints collects the distinctive literals of every
// amazon-ivs-* package under nodeModules.
func packageFingerprints(nodeModules string) ([]fingerprint, error) {
	dirs, err := amazonPackages(nodeModules)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var fps []fingerprint
	for _, dir := range dirs {
		pkg := filepath.Base(dir)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isJS(p) {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, s := range literals(b) {
				if !distinctive(s) {
					continue
				}
				if len(s) > maxLiteral {
					s = s[:maxLiteral]
				}
				if !seen[s] {
					seen[s] = true
					fps = append(fps, fingerprint{pkg: pkg, text: s})
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return fps, nil
}

// matcher finds fingerprints in a file in one pass: it looks up every
// minLiteral-byte window of the file among the fingerprints' starts.
type matcher struct {
	byStart map[string][]fingerprint
}

func newMatcher(fps []fingerprint) *matcher {
	m := &matcher{byStart: make(map[string][]fingerprint, len(fps))}
	for _, fp := range fps {
		k := fp.text[:minLiteral]
		m.byStart[k] = append(m.byStart[k], fp)
	}
	return m
}

// find returns the fingerprints in b, and any mention of a package by name.
func (m *matcher) find(b []byte) []fingerprint {
	var out []fingerprint
	found := map[string]bool{}
	for i := 0; i+minLiteral <= len(b); i++ {
		for _, fp := range m.byStart[string(b[i:i+minLiteral])] {
			if !found[fp.text] && bytes.HasPrefix(b[i:], []byte(fp.text)) {
				found[fp.text] = true
				out = append(out, fp)
			}
		}
	}
	for _, name := range packageName.FindAll(b, -1) {
		if !found[string(name)] {
			found[string(name)] = true
			out = append(out, fingerprint{pkg: string(name), text: string(name)})
		}
	}
	return out
}

var packageName = regexp.MustCompile(namePrefix + `[a-z0-9-]*`)

// importsAmazon finds an import of an amazon-ivs-* package in web/'s
// sources: static, type-only, dynamic or require.
var importsAmazon = regexp.MustCompile(`(?:\bfrom|\bimport|\brequire)\s*\(?\s*["'` + "`" + `]` + namePrefix)

func TestImportsAmazon(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want bool
	}{
		{`import { ChatRoom } from "amazon-ivs-chat-messaging";`, true},
		{`import type { ChatToken } from 'amazon-ivs-chat-messaging';`, true},
		{`import "amazon-ivs-player";`, true},
		{`const b = await import("amazon-ivs-web-broadcast");`, true},
		{`const p = require( 'amazon-ivs-player')`, true},
		{`// works as amazon-ivs-chat-messaging does`, false},
		{`import { ChatClient } from "./chatclient";`, false},
	}
	for _, tc := range tests {
		if got := importsAmazon.MatchString(tc.src); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.src, got, tc.want)
		}
	}
}

// scan looks for fingerprints in every file of fsys: the built pages,
// their chunks, and source maps if a build writes any (their sources and
// sourcesContent would carry the packages' paths and code).
func scan(fsys fs.FS, m *matcher) ([]hit, error) {
	var hits []hit
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		for _, fp := range m.find(b) {
			hits = append(hits, hit{file: p, fp: fp})
		}
		return nil
	})
	return hits, err
}

// shipped lists the directories (under web/) of the packages the pages are
// built from: package-lock.json's packages that are not dev-only.
func shipped() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(webDir, "package-lock.json"))
	if err != nil {
		return nil, err
	}
	var lock struct {
		Packages map[string]struct {
			Dev bool `json:"dev"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("package-lock.json: %w", err)
	}
	var dirs []string
	for p, v := range lock.Packages {
		if p != "" && !v.Dev {
			dirs = append(dirs, filepath.Join(webDir, filepath.FromSlash(p)))
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// elsewhere sets apart the hits whose text a shipped package has too: a
// string that hls.js or the AWS SDK also has is no sign of Amazon's code.
// It reads those packages (some 10 MB) only when there are hits to explain.
func elsewhere(hits []hit) (kept, dropped []hit, err error) {
	var texts [][]byte
	for _, h := range hits {
		if h.fp.text != h.fp.pkg { // a package's name is never someone else's
			texts = append(texts, []byte(h.fp.text))
		}
	}
	if len(texts) == 0 {
		return hits, nil, nil
	}
	dirs, err := shipped()
	if err != nil {
		return nil, nil, err
	}
	shared := map[string]bool{}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue // an optional dependency not installed on this platform
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "node_modules":
				return filepath.SkipDir // nested packages are listed on their own
			case d.IsDir() || !isJS(p):
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, text := range texts {
				if bytes.Contains(b, text) {
					shared[string(text)] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for _, h := range hits {
		if shared[h.fp.text] {
			dropped = append(dropped, h)
		} else {
			kept = append(kept, h)
		}
	}
	return kept, dropped, nil
}

// nodeModules returns web/node_modules if the packages are installed there
// (npm ci), and "" otherwise: then only their names are looked for. Under
// CI, where make test installs them first, their absence fails the test.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(webDir, "node_modules")
	if dirs, err := amazonPackages(dir); err != nil || len(dirs) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s* package in %s under CI: make test runs npm ci first (%v)", namePrefix, dir, err)
		}
		t.Logf("no %s* package in %s: only their names are looked for (npm ci in web/, or make ui, to check for their code)", namePrefix, dir)
		return ""
	}
	return dir
}

// minPerPackage is the fewest fingerprints a package must give for its
// check to mean something (the smallest, the chat client, gives some 50).
const minPerPackage = 20

// fingerprintsOf returns the installed packages' fingerprints (none
// without node_modules), failing the test if a package gives too few.
func fingerprintsOf(t *testing.T, nm string) []fingerprint {
	t.Helper()
	if nm == "" {
		return nil
	}
	fps, err := packageFingerprints(nm)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, fp := range fps {
		per[fp.pkg]++
	}
	dirs, _ := amazonPackages(nm)
	for _, d := range dirs {
		if n := per[filepath.Base(d)]; n < minPerPackage {
			t.Fatalf("only %d fingerprints from %s: the literal scanner is broken, or the package is no longer code", n, filepath.Base(d))
		}
	}
	t.Logf("fingerprints per package: %v", per)
	return fps
}

// TestDistShipsNothingOfAmazons scans the built UI (dist/, what go:embed
// puts in the binary) for the amazon-ivs-* packages. Without a build (dist
// holds only its README) there is nothing to scan: it skips, except under
// CI, where make test builds the UI first.
func TestDistShipsNothingOfAmazons(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join("dist", "index.html")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the UI is not built under CI: make test runs make ui first (%v)", err)
		}
		t.Skipf("the UI is not built (%v): make ui, then this test checks what it built", err)
	}
	hits, err := scan(os.DirFS("dist"), newMatcher(fingerprintsOf(t, nodeModules(t))))
	if err != nil {
		t.Fatal(err)
	}
	hits, dropped, err := elsewhere(hits)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range dropped {
		t.Logf("dist/%s has %q of %s, which a package the pages are built from has too: not counted", h.file, h.fp.text, h.fp.pkg)
	}
	// One error per file and package, with a few of the strings found.
	type where struct{ file, pkg string }
	found := map[where][]string{}
	var order []where
	for _, h := range hits {
		w := where{h.file, h.fp.pkg}
		if found[w] == nil {
			order = append(order, w)
		}
		found[w] = append(found[w], h.fp.text)
	}
	for _, w := range order {
		texts := found[w]
		t.Errorf("dist/%s holds %s: %d of its strings, e.g. %q. web/src must not import an %s* package: they are devDependencies, for tests only",
			w.file, w.pkg, len(texts), texts[:min(3, len(texts))], namePrefix)
	}
}

// TestScanFindsAmazonsCode proves the scan above can fail: files that hold
// the packages' real code, or name them, are caught; ordinary code is not.
func TestScanFindsAmazonsCode(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t)
	m := newMatcher(fingerprintsOf(t, nm))
	// A slice of a package file, from the middle: what a bundle of it
	// would hold, without the file's start or end (nil without the
	// package: the case is skipped).
	slice := func(rel string, n int) []byte {
		if nm == "" {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(nm, rel))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > n {
			b = b[(len(b)-n)/2:][:n]
		}
		return b
	}
	// Code of ours with theirs after it, as in a chunk (nil without theirs).
	bundle := func(ours, theirs []byte) []byte {
		if theirs == nil {
			return nil
		}
		return append(append(slices.Clone(ours), ";\n"...), theirs...)
	}
	ours, err := os.ReadFile(filepath.Join(webDir, "src", "chatclient.ts"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		data []byte
		want string // the package caught; "" for none
	}{
		{"the chat client's ChatRoom.js", "assets/chat-1.js",
			slice("amazon-ivs-chat-messaging/dist/esm/ChatRoom.js", 8<<10), "amazon-ivs-chat-messaging"},
		{"the chat client bundled with ours", "assets/chat-2.js",
			bundle(ours, slice("amazon-ivs-chat-messaging/dist/cjs/ChatConnection.js", 4<<10)), "amazon-ivs-chat-messaging"},
		{"the player", "assets/play-1.js", slice("amazon-ivs-player/dist/index.js", 16<<10), "amazon-ivs-player"},
		{"the broadcast SDK", "assets/broadcast-1.js",
			slice("amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js", 16<<10), "amazon-ivs-web-broadcast"},
		{"a source map naming the package", "assets/chat-1.js.map",
			[]byte(`{"version":3,"sources":["../node_modules/amazon-ivs-chat-messaging/dist/esm/index.js"],"mappings":""}`), "amazon-ivs-chat-messaging"},
		{"a legal comment", "assets/x.js", []byte("/*! amazon-ivs-player | license */\nexport const x=1;"), "amazon-ivs-player"},
		{"onair's own chat client", "assets/ours.js", ours, ""},
		{"a string a shipped package has too", "assets/shared.js", []byte(`throw new TypeError("The listener must be a function")`), ""},
		{"ordinary code", "assets/ok.js", []byte(`const e="The connection to the chat was lost.";export{e};`), ""},
	}
	// One dist-like directory holds every case's file, scanned as dist/ is.
	dir := t.TempDir()
	for _, tc := range tests {
		if tc.data == nil {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(tc.file))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := scan(os.DirFS(dir), m)
	if err != nil {
		t.Fatal(err)
	}
	hits, _, err = elsewhere(hits)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.data == nil {
				t.Skip("the package is not installed in web/node_modules")
			}
			var got []fingerprint
			for _, h := range hits {
				if h.file == tc.file {
					got = append(got, h.fp)
				}
			}
			if tc.want == "" {
				for _, fp := range got {
					t.Errorf("false positive: %q of %s", fp.text, fp.pkg)
				}
				return
			}
			if !slices.ContainsFunc(got, func(fp fingerprint) bool { return fp.pkg == tc.want }) {
				t.Fatalf("%s not caught in %s: found %q", tc.want, tc.file, got)
			}
			t.Logf("caught by %d fingerprints, e.g. %q", len(got), got[0].text)
		})
	}
}

// TestLiterals pins the lexer on the forms a bundler writes.
func TestLiterals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string
	}{
		{`a("one", 'two')`, []string{"one", "two"}},
		{"x=`head ${a ? `in` : {b: 1}.b} tail`", []string{"head ", " tail"}},
		{`s="it\"s";t='ok'`, []string{`it\"s`, "ok"}},
		{`"open`, nil},
		{"\"line\nnext\"", nil},                  // not a literal: it would end at the line's end
		{"`two\nlines`", []string{"two\nlines"}}, // a template literal may span lines
	}
	for _, tc := range tests {
		if got := literals([]byte(tc.src)); !slices.Equal(got, tc.want) {
			t.Errorf("literals(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

// TestWebDependsOnNothingOfAmazons checks web/ at its source: no
// amazon-ivs-* package among package.json's dependencies (what the UI is
// built from), and no import of one in web/src, the HTML entry points or
// the Vite config.
func TestWebDependsOnNothingOfAmazons(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(webDir, "package.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no web/ beside this module (a vendored copy)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var pkg map[string]json.RawMessage
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"dependencies", "peerDependencies", "optionalDependencies", "bundleDependencies", "bundledDependencies"} {
		var deps map[string]string
		if raw, ok := pkg[key]; ok {
			if err := json.Unmarshal(raw, &deps); err != nil {
				var list []string // bundleDependencies may be a list
				if json.Unmarshal(raw, &list) != nil {
					t.Fatalf("package.json %s: %v", key, err)
				}
				deps = map[string]string{}
				for _, n := range list {
					deps[n] = ""
				}
			}
		}
		for name := range deps {
			if strings.HasPrefix(name, namePrefix) {
				t.Errorf("web/package.json %s has %s: Amazon's packages are devDependencies (tests only)", key, name)
			}
		}
	}

	files, err := filepath.Glob(filepath.Join(webDir, "*.html"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := filepath.Glob(filepath.Join(webDir, "vite.config.*"))
	files = append(files, cfg...)
	err = filepath.WalkDir(filepath.Join(webDir, "src"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("only %d files of web/ checked: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if loc := importsAmazon.FindIndex(b); loc != nil {
			line := bytes.Count(b[:loc[0]], []byte("\n")) + 1
			t.Errorf("%s:%d imports an %s* package: the pages ship onair's code only", f, line, namePrefix)
		}
	}
}
