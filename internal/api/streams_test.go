package api

import (
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"

	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
)

func TestStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, key := e.createChannel("live")
	idle, _ := e.createChannel("idle")

	_, err := e.client.GetStream(ctx, &sdk.GetStreamInput{ChannelArn: ch.Arn})
	wantCode[*types.ChannelNotBroadcasting](t, err, *ch.Arn)
	_, err = e.client.StopStream(ctx, &sdk.StopStreamInput{ChannelArn: ch.Arn})
	wantCode[*types.ChannelNotBroadcasting](t, err)
	_, err = e.client.GetStream(ctx, &sdk.GetStreamInput{ChannelArn: aws.String("bad")})
	wantCode[*types.ValidationException](t, err, "channelArn")

	pub := e.goLive(*key.Value)
	got, err := e.client.GetStream(ctx, &sdk.GetStreamInput{ChannelArn: ch.Arn})
	if err != nil {
		t.Fatal(err)
	}
	s := got.Stream
	if s.State != types.StreamStateStreamLive || s.Health != types.StreamHealthStreamHealthy ||
		!strings.HasPrefix(aws.ToString(s.StreamId), "st-") || len(aws.ToString(s.StreamId)) != 26 ||
		aws.ToString(s.PlaybackUrl) != aws.ToString(ch.PlaybackUrl) || s.StartTime == nil ||
		time.Since(*s.StartTime) > time.Minute {
		t.Fatalf("GetStream: %+v", s)
	}

	list, err := e.client.ListStreams(ctx, &sdk.ListStreamsInput{})
	if err != nil || len(list.Streams) != 1 || aws.ToString(list.Streams[0].StreamId) != *s.StreamId {
		t.Fatalf("ListStreams: %+v %v", list, err)
	}
	list, err = e.client.ListStreams(ctx, &sdk.ListStreamsInput{FilterBy: &types.StreamFilters{Health: types.StreamHealthStarving}})
	if err != nil || len(list.Streams) != 0 {
		t.Fatalf("ListStreams STARVING: %+v %v", list, err)
	}
	_, err = e.client.ListStreams(ctx, &sdk.ListStreamsInput{FilterBy: &types.StreamFilters{Health: "GREAT"}})
	wantCode[*types.ValidationException](t, err, "filterBy.health")

	// A live channel can be neither deleted nor changed.
	_, err = e.client.DeleteChannel(ctx, &sdk.DeleteChannelInput{Arn: ch.Arn})
	wantCode[*types.ConflictException](t, err, "live")
	_, err = e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{Arn: ch.Arn, Name: aws.String("x")})
	wantCode[*types.ConflictException](t, err)
	// Another channel is not disturbed.
	if _, err := e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{Arn: idle.Arn, Name: aws.String("x")}); err != nil {
		t.Fatal(err)
	}

	if _, err := e.client.StopStream(ctx, &sdk.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("StopStream did not cut the publisher off")
	}
	pub.Close()
	_, err = e.client.GetStream(ctx, &sdk.GetStreamInput{ChannelArn: ch.Arn})
	wantCode[*types.ChannelNotBroadcasting](t, err)
	if _, err := e.client.DeleteChannel(ctx, &sdk.DeleteChannelInput{Arn: ch.Arn}); err != nil {
		t.Fatalf("DeleteChannel after the stream ended: %v", err)
	}
}

func TestStreamSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, key := e.createChannel("before")

	_, err := e.client.GetStreamSession(ctx, &sdk.GetStreamSessionInput{ChannelArn: ch.Arn})
	wantCode[*types.ResourceNotFoundException](t, err, "no stream session")

	// A first session, ended; the channel is renamed; a second one, live.
	first := e.goLive(*key.Value)
	first.Close()
	if _, err := e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{Arn: ch.Arn, Name: aws.String("after")}); err != nil {
		t.Fatal(err)
	}
	e.goLive(*key.Value)

	var sums []types.StreamSessionSummary
	p := sdk.NewListStreamSessionsPaginator(e.client, &sdk.ListStreamSessionsInput{ChannelArn: ch.Arn, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, out.StreamSessions...)
	}
	if len(sums) != 2 || sums[0].EndTime != nil || sums[1].EndTime == nil || sums[1].StartTime.After(*sums[0].StartTime) {
		t.Fatalf("sessions, newest first: %+v", sums)
	}

	live, err := e.client.GetStreamSession(ctx, &sdk.GetStreamSessionInput{ChannelArn: ch.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if s := live.StreamSession; aws.ToString(s.StreamId) != aws.ToString(sums[0].StreamId) || s.EndTime != nil ||
		aws.ToString(s.Channel.Name) != "after" || len(s.TruncatedEvents) != 2 ||
		aws.ToString(s.TruncatedEvents[0].Name) != "Stream Start" {
		t.Fatalf("live session %+v", s)
	}
	ended, err := e.client.GetStreamSession(ctx, &sdk.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: sums[1].StreamId})
	if err != nil {
		t.Fatal(err)
	}
	s := ended.StreamSession
	var names []string
	for _, ev := range s.TruncatedEvents {
		names = append(names, aws.ToString(ev.Name))
		if aws.ToString(ev.Type) != "IVS Stream State Change" || ev.EventTime == nil {
			t.Errorf("event %+v", ev)
		}
	}
	// The channel as it was when the stream started; events newest first.
	if s.EndTime == nil || aws.ToString(s.Channel.Name) != "before" || aws.ToString(s.Channel.PlaybackUrl) != aws.ToString(ch.PlaybackUrl) ||
		strings.Join(names, ",") != "Session Ended,Stream End,Stream Start,Session Created" {
		t.Fatalf("ended session %+v, events %v", s, names)
	}

	_, err = e.client.GetStreamSession(ctx, &sdk.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: aws.String("st-000000000000000000000000")})
	wantCode[*types.ResourceNotFoundException](t, err)
	_, err = e.client.GetStreamSession(ctx, &sdk.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: aws.String("nope")})
	wantCode[*types.ValidationException](t, err, "streamId")
	_, err = e.client.ListStreamSessions(ctx, &sdk.ListStreamSessionsInput{ChannelArn: aws.String("arn:aws:ivs:us-west-2:" + e.account.ID + ":channel/abcdABCDefgh")})
	wantCode[*types.ResourceNotFoundException](t, err)
}

func TestListStreamsPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		_, key := e.createChannel(n)
		e.goLive(*key.Value)
	}
	var ids []string
	p := sdk.NewListStreamsPaginator(e.client, &sdk.ListStreamsInput{MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.Streams {
			ids = append(ids, *s.StreamId)
		}
	}
	if pages != 2 || len(ids) != 3 {
		t.Fatalf("%d pages, %d streams", pages, len(ids))
	}
}
