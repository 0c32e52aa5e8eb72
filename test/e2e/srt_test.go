package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// ffmpeg publishes MPEG-TS over SRT, encrypted with the channel's passphrase
// from the API, and the stream plays as LL-HLS with its audio; StopStream
// cuts the caller off. A wrong passphrase and an unknown key are refused.
func TestSRTIngest(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "srt", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	if ch.Srt == nil || aws.ToString(ch.Srt.Endpoint) != s.Addrs["srt"] || len(aws.ToString(ch.Srt.Passphrase)) < 10 {
		t.Fatalf("channel srt = %+v, want endpoint %s and a passphrase", ch.Srt, s.Addrs["srt"])
	}
	pass := aws.ToString(ch.Srt.Passphrase)

	// Refusals first, while the channel is free.
	for name, u := range map[string]string{
		"wrong passphrase": s.SRTURL(aws.ToString(key.Value), "not-the-channel-passphrase"),
		"unknown key":      s.SRTURL("sk_us-east-1_nope", ""),
	} {
		p := harness.StartFFmpeg(t, harness.Publish{URL: u, Duration: 5 * time.Second})
		if err := p.Wait(10 * time.Second); err == nil || strings.Contains(err.Error(), "still running") {
			t.Fatalf("%s: ffmpeg %v\n%s", name, err, p.Output())
		}
	}

	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.SRTURL(aws.ToString(key.Value), pass), Size: "640x360", Rate: 30, Audio: true})
	st := waitLive(t, c, aws.ToString(ch.Arn))
	sess, err := c.GetStreamSession(harness.Context(t, 5*time.Second), &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: st.StreamId})
	if err != nil {
		t.Fatal(err)
	}
	if in := sess.StreamSession.IngestConfigurations; in == nil || len(in.VideoConfigurations) != 1 || len(in.AudioConfigurations) != 1 ||
		in.VideoConfigurations[0].VideoWidth != 640 || in.AudioConfigurations[0].SampleRate != 48000 {
		t.Fatalf("ingest configurations %+v", in)
	}

	ctx := harness.Context(t, 60*time.Second)
	checkHLS(t, ctx, ch, "640x360", 640, 360, 30, "avc1.", "mp4a.40.2")

	if _, err := c.StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatalf("StopStream: %v", err)
	}
	// ffmpeg's SRT output notices a closed peer at its idle timeout.
	if err := pub.Wait(15 * time.Second); err != nil && strings.Contains(err.Error(), "still running") {
		t.Fatalf("ffmpeg still running 15 s after StopStream")
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 5*time.Second)
	for _, secret := range []string{aws.ToString(key.Value), pass} {
		if strings.Contains(s.Logs(), secret) {
			t.Errorf("a secret appears in the server log")
		}
	}
}
