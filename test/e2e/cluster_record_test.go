package e2e

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// A node dies while recording and its recording is finished by a survivor
// (scale-out.md §6.2 tests 6 and 7): A records to S3; with S3 down for a
// moment, so that A's spool holds segments S3 never got, A is SIGKILLed.
// Within the lease TTL plus the orphan grace (and a few seconds of the
// finisher's period) another node writes recording-ended.json, whose
// playlist lists exactly the segments that reached S3, and the event log
// has one Recording End for it. A then restarts on its data dir: its spool
// uploads the segments it had left (not added to the playlist), and there
// is still one recording-ended.json, unchanged, and one Recording End.
func TestClusterRecordingOrphaned(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	const grace, ttl = 2 * time.Second, 3 * time.Second
	c := harness.StartCluster(t, 3, harness.ClusterOptions{LeaseTTL: ttl, Args: []string{"--recording-orphan-grace", grace.String()}})
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := harness.Context(t, 4*time.Minute)
	const bucket = "orphans"
	c.S3.CreateBucket(t, bucket)
	rc := createRecording(t, b.IVS(), recordTo(bucket))
	out, err := b.IVS().CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("orphan"), Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
	if err != nil {
		t.Fatal(err)
	}
	harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: "320x240", Audio: true})
	waitLive(t, b.IVS(), aws.ToString(out.Channel.Arn))

	// keys lists the recording's objects (one recording in the bucket).
	keys := func() []string {
		t.Helper()
		ks, err := c.S3.Keys(ctx, bucket, "ivs/v1/")
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	segments := func(ks []string) []string {
		var out []string
		for _, k := range ks {
			if strings.HasSuffix(k, ".ts") {
				out = append(out, k)
			}
		}
		return out
	}
	// Two segments in S3, then S3 goes down until A's spool holds one.
	harness.Eventually(t, 60*time.Second, func() error {
		if n := len(segments(keys())); n < 2 {
			return fmt.Errorf("%d segments in S3", n)
		}
		return nil
	})
	c.S3.Stop()
	harness.Eventually(t, 60*time.Second, func() error {
		if n := len(spooledSegments(t, a.DataDir)); n < 1 {
			return fmt.Errorf("%d segments in A's spool", n)
		}
		return nil
	})
	a.Kill()
	killed := time.Now()
	<-a.Exited()
	leftover := spooledSegments(t, a.DataDir)
	c.S3.Restart()
	uploaded := segments(keys())
	var prefix string
	for _, k := range keys() {
		if p, ok := strings.CutSuffix(k, "events/recording-started.json"); ok {
			prefix = p
		}
	}
	if prefix == "" || len(uploaded) < 2 {
		t.Fatalf("prefix %q, uploaded %v", prefix, uploaded)
	}
	for _, k := range leftover {
		if slices.Contains(uploaded, k) {
			t.Fatalf("%s is both in S3 and in A's spool", k)
		}
	}
	recID := path.Base(strings.TrimSuffix(prefix, "/"))
	t.Logf("A killed with %d segments in S3 and %d in its spool", len(uploaded), len(leftover))

	// A survivor finishes the recording after the TTL and the grace.
	endedKey := prefix + "events/recording-ended.json"
	var endedBody []byte
	harness.Eventually(t, 90*time.Second, func() error {
		b, err := c.S3.Get(ctx, bucket, endedKey)
		if err != nil {
			return err
		}
		endedBody = b
		return nil
	})
	took := time.Since(killed)
	t.Logf("recording-ended.json in S3 %v after the kill (lease TTL %v, orphan grace %v)", took.Round(100*time.Millisecond), ttl, grace)
	if took > ttl+grace+20*time.Second {
		t.Errorf("the dead node's recording was finished %v after the kill; want within TTL + grace + 20 s", took)
	}
	var ended struct {
		Status  string `json:"recording_status"`
		Message string `json:"recording_status_message"`
		Media   struct {
			HLS struct {
				Renditions []struct {
					Path string `json:"path"`
				} `json:"renditions"`
			} `json:"hls"`
		} `json:"media"`
	}
	if err := json.Unmarshal(endedBody, &ended); err != nil {
		t.Fatal(err)
	}
	if ended.Status != "RECORDING_ENDED_WITH_FAILURE" || !strings.Contains(ended.Message, "node n1 ") || len(ended.Media.HLS.Renditions) != 1 {
		t.Fatalf("recording-ended.json: %s", endedBody)
	}
	rendition := ended.Media.HLS.Renditions[0].Path
	playlistKey := prefix + "media/hls/" + rendition + "/playlist.m3u8"
	var playlist []byte
	harness.Eventually(t, 30*time.Second, func() error {
		p, err := c.S3.Get(ctx, bucket, playlistKey)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(string(p), "#EXT-X-ENDLIST\n") {
			return fmt.Errorf("playlist not final yet:\n%s", p)
		}
		playlist = p
		return nil
	})
	var listed []string
	for _, l := range strings.Split(string(playlist), "\n") {
		if strings.HasSuffix(l, ".ts") {
			listed = append(listed, prefix+"media/hls/"+rendition+"/"+l)
		}
	}
	slices.Sort(listed)
	slices.Sort(uploaded)
	if !slices.Equal(listed, uploaded) {
		t.Fatalf("the final playlist lists %v; the segments in S3 before the kill were %v", listed, uploaded)
	}
	if master, err := c.S3.Get(ctx, bucket, prefix+"media/hls/master.m3u8"); err != nil || !strings.Contains(string(master), rendition+"/playlist.m3u8") {
		t.Fatalf("master playlist %q %v", master, err)
	}
	ends := func() string {
		t.Helper()
		n, err := c.Query(`SELECT count(*) FROM events WHERE body LIKE '%"recording_session_id":"` + recID +
			`"%' AND body LIKE '%"recording_status":"Recording End%'`)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := ends(); n != "1" {
		t.Fatalf("%s Recording End events for the recording, want 1", n)
	}
	if n, err := c.Query("SELECT node_id || ' ' || state || ' ' || ended_by FROM recordings WHERE id = '" + recID + "'"); err != nil ||
		(n != "n1 ended n2" && n != "n1 ended n3") {
		t.Fatalf("the recording's row: %q %v", n, err)
	}

	// A comes back with its data dir: its leftover segments upload, not
	// into the playlist, and nothing is finished twice.
	a2 := c.StartNode("n1", a.DataDir)
	harness.Eventually(t, 60*time.Second, func() error {
		in := keys()
		for _, k := range leftover {
			if !slices.Contains(in, k) {
				return fmt.Errorf("%s not uploaded", k)
			}
		}
		return nil
	})
	harness.Eventually(t, 60*time.Second, func() error {
		if left, _ := filepath.Glob(filepath.Join(a.DataDir, "spool", "*.json")); len(left) > 0 {
			return fmt.Errorf("%d objects in A's spool", len(left))
		}
		return nil
	})
	if got, err := c.S3.Get(ctx, bucket, endedKey); err != nil || string(got) != string(endedBody) {
		t.Fatalf("recording-ended.json after A came back: %s %v", got, err)
	}
	if got, err := c.S3.Get(ctx, bucket, playlistKey); err != nil || string(got) != string(playlist) {
		t.Fatalf("the playlist after A came back:\n%s\n%v", got, err)
	}
	ended2 := 0
	for _, k := range keys() {
		if strings.HasSuffix(k, "events/recording-ended.json") {
			ended2++
		}
	}
	if n := ends(); n != "1" || ended2 != 1 {
		t.Fatalf("after A came back: %s Recording End events, %d recording-ended.json", n, ended2)
	}
	// and says why its recording is not finished again.
	a2.WaitLog(t, "was finished by another node", 10*time.Second)
}

// A node killed while recording comes back within the orphan grace, with
// its data dir: it finishes the recording itself, from its journal, with
// every segment it had (those its spool held too), and the other node
// leaves it alone: one recording-ended.json, one Recording End, the row
// ended by the node itself.
func TestClusterRecordingNodeReturns(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 2, harness.ClusterOptions{}) // the default grace: 5 minutes
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := harness.Context(t, 3*time.Minute)
	const bucket = "returns"
	c.S3.CreateBucket(t, bucket)
	rc := createRecording(t, b.IVS(), recordTo(bucket))
	out, err := b.IVS().CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("returns"), Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
	if err != nil {
		t.Fatal(err)
	}
	harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: "320x240", Audio: true})
	waitLive(t, b.IVS(), aws.ToString(out.Channel.Arn))
	var prefix string
	harness.Eventually(t, 60*time.Second, func() error {
		ks, err := c.S3.Keys(ctx, bucket, "ivs/v1/")
		if err != nil {
			return err
		}
		n := 0
		for _, k := range ks {
			if strings.HasSuffix(k, ".ts") {
				n++
			}
			if p, ok := strings.CutSuffix(k, "events/recording-started.json"); ok {
				prefix = p
			}
		}
		if n < 2 {
			return fmt.Errorf("%d segments in S3", n)
		}
		return nil
	})
	recID := path.Base(strings.TrimSuffix(prefix, "/"))
	a.Kill()
	<-a.Exited()
	a2 := c.StartNode("n1", a.DataDir)
	harness.Eventually(t, 60*time.Second, func() error {
		if left, _ := filepath.Glob(filepath.Join(a.DataDir, "spool", "*.json")); len(left) > 0 {
			return fmt.Errorf("%d objects in A's spool", len(left))
		}
		if _, err := c.S3.Get(ctx, bucket, prefix+"events/recording-ended.json"); err != nil {
			return err
		}
		return nil
	})
	ks, err := c.S3.Keys(ctx, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var inS3 []string
	rendition := ""
	for _, k := range ks {
		if strings.HasSuffix(k, ".ts") {
			inS3 = append(inS3, path.Base(k))
			rendition = path.Base(path.Dir(k))
		}
	}
	playlist, err := c.S3.Get(ctx, bucket, prefix+"media/hls/"+rendition+"/playlist.m3u8")
	if err != nil || !strings.HasSuffix(string(playlist), "#EXT-X-ENDLIST\n") {
		t.Fatalf("playlist %q %v", playlist, err)
	}
	var listed []string
	for _, l := range strings.Split(string(playlist), "\n") {
		if strings.HasSuffix(l, ".ts") {
			listed = append(listed, l)
		}
	}
	slices.Sort(listed)
	slices.Sort(inS3)
	if !slices.Equal(listed, inS3) {
		t.Fatalf("the playlist lists %v; S3 has %v", listed, inS3)
	}
	ended, _ := c.S3.Get(ctx, bucket, prefix+"events/recording-ended.json")
	if !strings.Contains(string(ended), "the server stopped while recording") {
		t.Fatalf("recording-ended.json: %s", ended)
	}
	if n, err := c.Query("SELECT state || ' ' || ended_by FROM recordings WHERE id = '" + recID + "'"); err != nil || n != "ended n1" {
		t.Fatalf("the recording's row: %q %v", n, err)
	}
	n, err := c.Query(`SELECT count(*) FROM events WHERE body LIKE '%"recording_session_id":"` + recID +
		`"%' AND body LIKE '%"recording_status":"Recording End%'`)
	if err != nil || n != "1" {
		t.Fatalf("%s Recording End events, %v", n, err)
	}
	if strings.Contains(a2.Logs(), "was finished by another node") {
		t.Fatal("the node that came back says another finished its recording")
	}
}
