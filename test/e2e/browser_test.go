package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onair-video/onair/test/e2e/harness"
)

// TestConsoleInBrowser drives the console and the player page in Chromium
// (web/e2e/console.mjs, playwright-core): sign-in with a wrong and a right
// secret, a channel created through the form, ffmpeg publishing to the
// ingest URL and key the page shows, LIVE without a reload, the preview and
// the player page playing real frames, Stop stream, the session's charts.
// Screenshots land in test/e2e/artifacts/screenshots.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	root := harness.Root(t)
	node := harness.RequireProgram(t, "node")
	harness.RequireProgram(t, "chromium")
	ffmpeg := harness.RequireProgram(t, "ffmpeg")
	for _, need := range []string{"internal/webui/dist/index.html", "web/node_modules/playwright-core"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing under CI: make test builds the UI first (%v)", need, err)
			}
			t.Skipf("%s missing: run make ui (or make test) first", need)
		}
	}
	s := harness.Start(t)
	shots := filepath.Join(root, "test", "e2e", "artifacts", "screenshots")
	// Only this run's pictures: a renamed step must not leave a stale one.
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	p := harness.StartProcessIn(t, filepath.Join(root, "web"), []string{
		"ONAIR_URL=" + s.Endpoint(), "ONAIR_AKID=" + s.AccessKeyID, "ONAIR_SECRET=" + s.SecretAccessKey,
		"SHOTS=" + shots, "FFMPEG=" + ffmpeg,
	}, node, "e2e/console.mjs")
	if err := p.Wait(3 * time.Minute); err != nil {
		t.Fatalf("browser test: %v\n%s", err, p.Output())
	}
	t.Logf("browser test:\n%s", p.Output())
}
