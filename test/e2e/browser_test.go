package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// Screenshots of the browser tests land in test/e2e/artifacts/screenshots;
// each test owns the names it writes (console: 01–19, WebRTC: 20–39, ABR: 40–49,
// chat: 50–59, IVS player: 60–69, IVS Web Broadcast SDK: 70–79, its Stage: 80–89,
// the console's Stages pages: 90–99).
func screenshots(root string) string {
	return filepath.Join(root, "test", "e2e", "artifacts", "screenshots")
}

// browserTest checks what a browser test needs, holds one of the harness's
// encoder-heavy slots for the test (Chromium decodes and encodes video),
// and returns the module root and node.
func browserTest(t *testing.T) (root, node string) {
	t.Helper()
	root = harness.Root(t)
	node = harness.RequireProgram(t, "node")
	harness.RequireProgram(t, "chromium")
	for _, need := range []string{"internal/webui/dist/index.html", "web/node_modules/playwright-core"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing under CI: make test builds the UI first (%v)", need, err)
			}
			t.Skipf("%s missing: run make ui (or make test) first", need)
		}
	}
	harness.Heavy(t)
	return root, node
}

// browserScript runs one of web/e2e's scripts with node, its screenshots
// going to screenshots(root) after the old ones of its prefixes are
// removed, and fails the test (with the server's log) if it fails.
func browserScript(t *testing.T, s *harness.Server, script string, timeout time.Duration, shotPrefixes []string, env ...string) {
	t.Helper()
	root, node := browserTest(t)
	shots := screenshots(root)
	removeShots(t, shots, shotPrefixes...)
	p := harness.StartProcessIn(t, filepath.Join(root, "web"), append(env, "SHOTS="+shots), node, script)
	if err := p.Wait(timeout); err != nil {
		t.Fatalf("browser test: %v\n%s\nserver log:\n%s", err, p.Output(), s.Logs())
	}
	t.Logf("browser test:\n%s", p.Output())
}

// removeShots deletes a test's earlier screenshots (by prefix), so a
// renamed step leaves no stale picture behind.
func removeShots(t *testing.T, dir string, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		old, _ := filepath.Glob(filepath.Join(dir, p+"*.png"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestConsoleInBrowser drives the console and the player page in Chromium
// (web/e2e/console.mjs, playwright-core): sign-in with a wrong and a right
// secret, a channel created through the form, ffmpeg publishing to the
// ingest URL and key the page shows, LIVE without a reload, the preview and
// the player page playing real frames, Stop stream, the session's charts.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	browserTest(t)
	ffmpeg := harness.RequireProgram(t, "ffmpeg")
	s := harness.Start(t)
	browserScript(t, s, "e2e/console.mjs", 3*time.Minute, []string{"0", "1"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey, "FFMPEG="+ffmpeg,
		"ONAIR_HTTPS="+s.HTTPSEndpoint())
}

// TestBroadcastInBrowser goes live from /broadcast in Chromium with its fake
// camera and microphone (WHIP), and watches the stream in a second page over
// HLS and in a third over WHEP (web/e2e/webrtc.mjs): a wrong key refused,
// LIVE with the sent bit rate shown, frames decoded on both, Stop streaming,
// a denied camera explained.
func TestBroadcastInBrowser(t *testing.T) {
	t.Parallel()
	browserTest(t) // before starting anything: it may skip
	s := harness.Start(t)
	ch, key := createChannel(t, s.IVS(), "browser-broadcast", types.ChannelTypeStandardChannelType, types.ChannelLatencyModeLowLatency)
	browserScript(t, s, "e2e/webrtc.mjs", 3*time.Minute, []string{"2", "3"},
		"ONAIR_URL="+s.Endpoint(), "CHANNEL_ID="+idOf(ch), "STREAM_KEY="+aws.ToString(key.Value))
}

// TestABRInBrowser plays a STANDARD channel's ladder with hls.js on the
// player page (web/e2e/abr.mjs): every level in the quality menu, and the
// picture switching to 160p when it is chosen.
//
// It runs alone, before the parallel tests: a 720p ladder (four x264
// encodes), its publisher and Chromium take both cores of a CI machine,
// and beside a dozen other live tests the encoder starved and the 160p
// switch missed its 20 s (seen once in CI).
func TestABRInBrowser(t *testing.T) {
	browserTest(t) // before starting anything: it may skip
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "browser-abr", types.ChannelTypeStandardChannelType, types.ChannelLatencyModeLowLatency)
	harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "1280x720", Rate: 30, GOP: 30,
		VideoBitrate: "2000k", Audio: true})
	waitLive(t, c, aws.ToString(ch.Arn))
	browserScript(t, s, "e2e/abr.mjs", 2*time.Minute, []string{"4"},
		"ONAIR_URL="+s.Endpoint(), "CHANNEL_ID="+idOf(ch))
}

// TestChatInBrowser drives chat in Chromium (web/e2e/chatpanel.mjs): a
// room created in the console and linked to a channel, two viewers chatting
// on its player page through onair's own chat client, the console's moderator
// deleting a message and disconnecting a viewer, an over-length message
// refused, the link undone.
func TestChatInBrowser(t *testing.T) {
	t.Parallel()
	browserTest(t) // before starting anything: it may skip
	s := harness.Start(t)
	ch, _ := createChannel(t, s.IVS(), "browser-chat", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	browserScript(t, s, "e2e/chatpanel.mjs", 2*time.Minute, []string{"5"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey,
		"CHANNEL_ID="+idOf(ch), "CHANNEL_NAME="+aws.ToString(ch.Name))
}

// TestIVSPlayerInBrowser plays a LOW and a NORMAL latency channel with
// audio in IVS's own web player (npm amazon-ivs-player,
// web/e2e/ivsplayer.mjs), which does not follow an audio rendition (the
// audio is muxed with the video), and reads PutMetadata's timed metadata
// from its TEXT_METADATA_CUE events on both (the LOW one from its MPEG-TS
// edition), and from hls.js on onair's player page. Its getLiveLatency(),
// made of each MPEG-TS segment's segment metadata and the multivariant
// playlist's SERVER-TIME, lies within 0.5–5 s on the LOW channel and
// 1–20 s on the NORMAL one; Chromium's own HLS player and ffmpeg's
// (ffprobe) read both playlists with that tag.
func TestIVSPlayerInBrowser(t *testing.T) {
	t.Parallel()
	browserTest(t)
	s := harness.Start(t)
	c := s.IVS()
	low, lowKey := createChannel(t, c, "ivs-player-low", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	normal, normalKey := createChannel(t, c, "ivs-player-normal", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeNormalLatency)
	for _, key := range []*types.StreamKey{lowKey, normalKey} {
		harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Audio: true})
	}
	waitLive(t, c, aws.ToString(low.Arn))
	waitLive(t, c, aws.ToString(normal.Arn))
	browserScript(t, s, "e2e/ivsplayer.mjs", 3*time.Minute, []string{"6"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey,
		"LOW_URL="+aws.ToString(low.PlaybackUrl), "LOW_ARN="+aws.ToString(low.Arn), "NORMAL_URL="+aws.ToString(normal.PlaybackUrl), "NORMAL_ARN="+aws.ToString(normal.Arn))

	// ffmpeg's HLS reader takes the NORMAL channel's multivariant playlist,
	// SERVER-TIME and all, and finds video, audio and the ID3 stream.
	ctx := harness.Context(t, 60*time.Second)
	out, err := exec.CommandContext(ctx, harness.RequireProgram(t, "ffprobe"), "-v", "error",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", aws.ToString(normal.PlaybackUrl)).CombinedOutput()
	if got := strings.Fields(string(out)); err != nil || !slices.Contains(got, "h264") || !slices.Contains(got, "aac") ||
		!slices.Contains(got, "timed_id3") {
		t.Fatalf("ffprobe of the NORMAL channel: %v\n%s", err, out)
	}
}
