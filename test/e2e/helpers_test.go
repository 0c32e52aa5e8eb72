package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// createChannel creates a channel with the SDK and returns it with its key.
func createChannel(t *testing.T, c *ivs.Client, name string, typ types.ChannelType, latency types.ChannelLatencyMode) (*types.Channel, *types.StreamKey) {
	t.Helper()
	out, err := c.CreateChannel(harness.Context(t, 10*time.Second), &ivs.CreateChannelInput{
		Name: aws.String(name), Type: typ, LatencyMode: latency,
		// The tests publish over plain RTMP and SRT, as users may on a
		// channel that allows it.
		InsecureIngest: true,
	})
	if err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	return out.Channel, out.StreamKey
}

// waitLive waits until GetStream answers LIVE and returns the stream.
func waitLive(t *testing.T, c *ivs.Client, channelARN string) *types.Stream {
	t.Helper()
	var st *types.Stream
	harness.Eventually(t, 20*time.Second, func() error {
		out, err := c.GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: aws.String(channelARN)})
		if err != nil {
			return err
		}
		if out.Stream.State != types.StreamStateStreamLive {
			return fmt.Errorf("state %s", out.Stream.State)
		}
		st = out.Stream
		return nil
	})
	return st
}

// waitOffline waits until GetStream answers ChannelNotBroadcasting.
func waitOffline(t *testing.T, c *ivs.Client, channelARN string, d time.Duration) {
	t.Helper()
	harness.Eventually(t, d, func() error {
		_, err := c.GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: aws.String(channelARN)})
		var cnb *types.ChannelNotBroadcasting
		if errors.As(err, &cnb) {
			return nil
		}
		return fmt.Errorf("GetStream: %v, want ChannelNotBroadcasting", err)
	})
}

// awsCLI runs the aws CLI against a server with its credentials file and
// profile (design.md §3).
type awsCLI struct {
	t   *testing.T
	bin string
	s   *harness.Server
}

func newCLI(t *testing.T, s *harness.Server) *awsCLI {
	return &awsCLI{t: t, bin: harness.RequireProgram(t, "aws"), s: s}
}

func (c *awsCLI) exec(args ...string) ([]byte, error) {
	full := append([]string{"--profile", "onair", "--region", "us-east-1", "--endpoint-url", c.s.Endpoint(), "--output", "json"}, args...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+c.s.CredentialsFile(), "AWS_CONFIG_FILE=/dev/null",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "AWS_DEFAULT_PROFILE=", "AWS_MAX_ATTEMPTS=1")
	return cmd.CombinedOutput()
}

// run runs a command that must succeed and returns its output.
func (c *awsCLI) run(args ...string) []byte {
	c.t.Helper()
	out, err := c.exec(args...)
	if err != nil {
		c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fail runs a command that must fail with code and a message that
// contains msg (the CLI prints the body's "message").
func (c *awsCLI) fail(code, msg string, args ...string) {
	c.t.Helper()
	out, err := c.exec(args...)
	want := "An error occurred (" + code + ")"
	if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), msg) {
		c.t.Errorf("aws %s: %v\n%s\nwant %q and %q", strings.Join(args, " "), err, out, want, msg)
	}
}
