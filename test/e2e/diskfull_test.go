package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/onair-video/onair/test/e2e/harness"
)

// smallDisk mounts a tmpfs of size bytes for the test; where mounting is
// not allowed (not root) it skips the test, except under CI.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		// CI runs as root on a fresh machine: there, a skip would hide the test.
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs (root is required under CI): %v %s", err, out)
		}
		t.Skipf("mounting a tmpfs needs root: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file in dir until the disk is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// The data dir on a disk that fills up while a channel is live and
// recording: API writes are refused with a clear InternalServerException,
// reads and playback go on, the loss of recording objects is an event;
// once space is freed everything works again and the store is intact.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	data := smallDisk(t, "48m")
	s := harness.Start(t, harness.Options{DataDir: filepath.Join(data, "onair"),
		// The disk that fills is the SQLite file's: PostgreSQL keeps its own.
		Args: []string{"--store", "sqlite"}})
	c := s.IVS()
	once := ivs.New(ivs.Options{}, func(o *ivs.Options) { *o = c.Options(); o.RetryMaxAttempts = 1 })
	ctx := harness.Context(t, 120*time.Second)
	rc := createRecording(t, c, recordTo("full"))
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("full"), Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
	if err != nil {
		t.Fatal(err)
	}
	ch := out.Channel
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: "320x240"})
	live := waitLive(t, c, aws.ToString(ch.Arn))
	// The recording has begun before the disk fills.
	harness.Eventually(t, 30*time.Second, func() error {
		for _, dir := range recordingDirs(t, filepath.Join(s.DataDir, "recordings", "full")) {
			if _, err := os.Stat(filepath.Join(dir, "events", "recording-started.json")); err == nil {
				return nil
			}
		}
		return fmt.Errorf("no recording-started.json yet")
	})

	filler := fill(t, data)
	// A write is refused in AWS's shape, saying why.
	_, err = once.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("refused")})
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalServerException" || !strings.Contains(ae.ErrorMessage(), "storage is full") ||
		!errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
		t.Fatalf("CreateChannel on a full disk: %v", err)
	}
	// Reads and playback go on.
	if _, err := c.GetChannel(ctx, &ivs.GetChannelInput{Arn: ch.Arn}); err != nil {
		t.Errorf("GetChannel on a full disk: %v", err)
	}
	mv, _ := waitMultivariant(t, aws.ToString(ch.PlaybackUrl))
	media := harness.Resolve(aws.ToString(ch.PlaybackUrl), mv.Variants[0].URI)
	m1, _, err := harness.FetchMedia(ctx, media)
	if err != nil {
		t.Fatal(err)
	}
	// A recorded segment (6 s) falls due and is lost; playback moves on.
	harness.Eventually(t, 30*time.Second, func() error {
		if logs := s.Logs(); !strings.Contains(logs, "recording object lost") || !strings.Contains(logs, "no space left on device") {
			return fmt.Errorf("the full disk is not in the log")
		}
		m2, _, err := harness.FetchMedia(ctx, media)
		if err != nil {
			return err
		}
		if m2.MediaSequence <= m1.MediaSequence {
			return fmt.Errorf("playback stopped moving on a full disk: media sequence %d, was %d", m2.MediaSequence, m1.MediaSequence)
		}
		return nil
	})
	select {
	case <-pub.Done():
		t.Fatalf("the publisher was cut off by the full disk: %v", pub.Err())
	default:
	}

	// Space comes back: so does everything.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("after")}); err != nil {
		t.Fatalf("CreateChannel once space is freed: %v", err)
	}
	if _, err := c.StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)
	var names []string
	harness.Eventually(t, 10*time.Second, func() error {
		sess, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: live.StreamId})
		if err != nil {
			return fmt.Errorf("GetStreamSession: %w", err)
		}
		if sess.StreamSession.EndTime == nil {
			return errors.New("session not ended")
		}
		names = names[:0]
		for _, e := range sess.StreamSession.TruncatedEvents {
			names = append(names, aws.ToString(e.Name))
		}
		// The recording ends just after the stream.
		if !slices.Contains(names, "Recording End Failure") {
			return fmt.Errorf("session events %q: the lost recording objects are not an event", names)
		}
		return nil
	})
	s.Stop()
	integrityCheck(t, s.DataDir)
	s2 := harness.Start(t, harness.Options{DataDir: s.DataDir, Args: []string{"--store", "sqlite"}})
	list, err := s2.IVS().ListChannels(ctx, &ivs.ListChannelsInput{})
	if err != nil || len(list.Channels) != 2 {
		t.Fatalf("channels after the restart: %+v, %v; want full and after", list, err)
	}
}
