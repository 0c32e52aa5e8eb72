package e2e

import (
	"context"
	"errors"
	"fmt"
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
