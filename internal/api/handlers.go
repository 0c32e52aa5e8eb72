package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/live"
)

// Inputs that are only an ARN.
type arnInput struct {
	ARN string `json:"arn"`
}

type arnsInput struct {
	ARNs []string `json:"arns"`
}

type channelARNInput struct {
	ChannelARN string `json:"channelArn"`
}

type createStreamKeyInput struct {
	ChannelARN string            `json:"channelArn"`
	Tags       map[string]string `json:"tags"`
}

type tagResourceInput struct {
	Tags map[string]string `json:"tags"`
}

// The outputs, with IVS's member names. nextToken is omitted on the last
// page: the SDK paginators stop only on a missing or empty token.
type (
	channelOutput struct {
		Channel ivs.Channel `json:"channel"`
	}
	createChannelOutput struct {
		Channel   ivs.Channel   `json:"channel"`
		StreamKey ivs.StreamKey `json:"streamKey"`
	}
	listChannelsOutput struct {
		Channels  []ivs.ChannelSummary `json:"channels"`
		NextToken string               `json:"nextToken,omitempty"`
	}
	batchGetChannelOutput struct {
		Channels []ivs.Channel    `json:"channels"`
		Errors   []ivs.BatchError `json:"errors"`
	}
	streamKeyOutput struct {
		StreamKey ivs.StreamKey `json:"streamKey"`
	}
	listStreamKeysOutput struct {
		StreamKeys []ivs.StreamKeySummary `json:"streamKeys"`
		NextToken  string                 `json:"nextToken,omitempty"`
	}
	batchGetStreamKeyOutput struct {
		StreamKeys []ivs.StreamKey  `json:"streamKeys"`
		Errors     []ivs.BatchError `json:"errors"`
	}
	streamOutput struct {
		Stream ivs.Stream `json:"stream"`
	}
	listStreamsOutput struct {
		Streams   []ivs.StreamSummary `json:"streams"`
		NextToken string              `json:"nextToken,omitempty"`
	}
	streamSessionWire struct {
		StreamID             string                   `json:"streamId"`
		StartTime            time.Time                `json:"startTime"`
		EndTime              *time.Time               `json:"endTime,omitempty"` // absent while live
		Channel              ivs.Channel              `json:"channel"`
		IngestConfiguration  *ingestConfiguration     `json:"ingestConfiguration,omitempty"`
		IngestConfigurations ivs.IngestConfigurations `json:"ingestConfigurations"`
		TruncatedEvents      []ivs.StreamEvent        `json:"truncatedEvents"`
		// RecordingConfiguration is the channel's, when it recorded.
		RecordingConfiguration *ivs.RecordingConfiguration `json:"recordingConfiguration,omitempty"`
	}
	// ingestConfiguration is IVS's deprecated single-track view: the first
	// video and audio tracks, with avcProfile/avcLevel filled for H.264.
	ingestConfiguration struct {
		Video *ivs.VideoConfiguration `json:"video,omitempty"`
		Audio *ivs.AudioConfiguration `json:"audio,omitempty"`
	}
	streamSessionOutput struct {
		StreamSession streamSessionWire `json:"streamSession"`
	}
	streamSessionSummary struct {
		StreamID      string     `json:"streamId"`
		StartTime     time.Time  `json:"startTime"`
		EndTime       *time.Time `json:"endTime,omitempty"`
		HasErrorEvent bool       `json:"hasErrorEvent"`
	}
	listStreamSessionsOutput struct {
		StreamSessions []streamSessionSummary `json:"streamSessions"`
		NextToken      string                 `json:"nextToken,omitempty"`
	}
	tagsOutput struct {
		Tags map[string]string `json:"tags"`
	}
)

// channel fills the request-dependent fields of a channel for the wire.
func (a *API) channel(c *call, ch ivs.Channel) ivs.Channel {
	a.endpoints(c.r).Fill(&ch)
	return ch
}

func streamKey(k ivs.StreamKey) ivs.StreamKey {
	k.Tags = nonNil(k.Tags)
	return k
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func batchErrors(e []ivs.BatchError) []ivs.BatchError {
	if e == nil {
		return []ivs.BatchError{}
	}
	return e
}

func createChannel(ctx context.Context, a *API, c *call, in *ivs.CreateChannelInput) (any, error) {
	ch, k, err := a.svc.CreateChannel(ctx, *in)
	if err != nil {
		return nil, err
	}
	return createChannelOutput{a.channel(c, ch), streamKey(k)}, nil
}

func getChannel(ctx context.Context, a *API, c *call, in *arnInput) (any, error) {
	ch, err := a.svc.GetChannel(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return channelOutput{a.channel(c, ch)}, nil
}

func updateChannel(ctx context.Context, a *API, c *call, in *ivs.UpdateChannelInput) (any, error) {
	ch, err := a.svc.UpdateChannel(ctx, *in)
	if err != nil {
		return nil, err
	}
	return channelOutput{a.channel(c, ch)}, nil
}

func deleteChannel(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	return nil, a.svc.DeleteChannel(ctx, in.ARN)
}

func listChannels(ctx context.Context, a *API, _ *call, in *ivs.ListChannelsInput) (any, error) {
	cs, next, err := a.svc.ListChannels(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listChannelsOutput{Channels: make([]ivs.ChannelSummary, len(cs)), NextToken: next}
	for i := range cs {
		out.Channels[i] = cs[i].Summary()
		out.Channels[i].Tags = nonNil(out.Channels[i].Tags)
	}
	return out, nil
}

func batchGetChannel(ctx context.Context, a *API, c *call, in *arnsInput) (any, error) {
	cs, errs, err := a.svc.BatchGetChannel(ctx, in.ARNs)
	if err != nil {
		return nil, err
	}
	out := batchGetChannelOutput{Channels: make([]ivs.Channel, len(cs)), Errors: batchErrors(errs)}
	for i, ch := range cs {
		out.Channels[i] = a.channel(c, ch)
	}
	return out, nil
}

func createStreamKey(ctx context.Context, a *API, _ *call, in *createStreamKeyInput) (any, error) {
	k, err := a.svc.CreateStreamKey(ctx, in.ChannelARN, in.Tags)
	if err != nil {
		return nil, err
	}
	return streamKeyOutput{streamKey(k)}, nil
}

func getStreamKey(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	k, err := a.svc.GetStreamKey(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return streamKeyOutput{streamKey(k)}, nil
}

func listStreamKeys(ctx context.Context, a *API, _ *call, in *ivs.ListStreamKeysInput) (any, error) {
	ks, next, err := a.svc.ListStreamKeys(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listStreamKeysOutput{StreamKeys: make([]ivs.StreamKeySummary, len(ks)), NextToken: next}
	for i := range ks {
		out.StreamKeys[i] = ks[i].Summary()
		out.StreamKeys[i].Tags = nonNil(out.StreamKeys[i].Tags)
	}
	return out, nil
}

func deleteStreamKey(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	return nil, a.svc.DeleteStreamKey(ctx, in.ARN)
}

func batchGetStreamKey(ctx context.Context, a *API, _ *call, in *arnsInput) (any, error) {
	ks, errs, err := a.svc.BatchGetStreamKey(ctx, in.ARNs)
	if err != nil {
		return nil, err
	}
	out := batchGetStreamKeyOutput{StreamKeys: make([]ivs.StreamKey, len(ks)), Errors: batchErrors(errs)}
	for i, k := range ks {
		out.StreamKeys[i] = streamKey(k)
	}
	return out, nil
}

// liveStream returns the live stream of the channel named by arn, or
// ChannelNotBroadcasting.
func (a *API) liveStream(ctx context.Context, arn string) (ivs.Channel, live.StreamInfo, error) {
	ch, err := a.svc.Channel(ctx, "channelArn", arn)
	if err != nil {
		return ch, live.StreamInfo{}, err
	}
	st, ok, err := a.live.Get(ctx, ch.ID)
	if err != nil {
		return ch, st, err
	}
	if !ok {
		return ch, st, ivs.NotBroadcasting(ch.ARN)
	}
	return ch, st, nil
}

func getStream(ctx context.Context, a *API, c *call, in *channelARNInput) (any, error) {
	ch, st, err := a.liveStream(ctx, in.ChannelARN)
	if err != nil {
		return nil, err
	}
	return streamOutput{ivs.Stream{
		ChannelARN:  ch.ARN,
		StreamID:    st.StreamID,
		PlaybackURL: a.endpoints(c.r).PlaybackURL(ch.ID),
		StartTime:   st.StartTime.UTC(),
		State:       ivs.StateLive,
		Health:      st.Health,
		ViewerCount: int64(a.viewers(ch.ID)),
	}}, nil
}

func listStreams(ctx context.Context, a *API, _ *call, in *ivs.ListStreamsInput) (any, error) {
	all, err := a.live.List(ctx)
	if err != nil {
		return nil, err
	}
	sums := make([]ivs.StreamSummary, len(all))
	for i, st := range all {
		sums[i] = ivs.StreamSummary{
			ChannelARN: st.Channel.ARN, StreamID: st.StreamID, State: ivs.StateLive,
			Health: st.Health, StartTime: st.StartTime.UTC(), ViewerCount: int64(a.viewers(st.Channel.ID)),
		}
	}
	page, next, err := ivs.ListStreams(*in, sums)
	if err != nil {
		return nil, err
	}
	return listStreamsOutput{Streams: page, NextToken: next}, nil
}

func stopStream(ctx context.Context, a *API, _ *call, in *channelARNInput) (any, error) {
	ch, _, err := a.liveStream(ctx, in.ChannelARN)
	if err != nil {
		return nil, err
	}
	if err := a.live.Stop(ctx, ch.ID); errors.Is(err, live.ErrNotLive) {
		// It went offline between the two looks.
		return nil, ivs.NotBroadcasting(ch.ARN)
	} else if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type getStreamSessionInput struct {
	ChannelARN string `json:"channelArn"`
	StreamID   string `json:"streamId"`
}

func endTime(ss ivs.StreamSession) *time.Time {
	if ss.EndTime.IsZero() {
		return nil
	}
	t := ss.EndTime.UTC()
	return &t
}

func getStreamSession(ctx context.Context, a *API, c *call, in *getStreamSessionInput) (any, error) {
	ss, err := a.svc.GetStreamSession(ctx, in.ChannelARN, in.StreamID)
	if err != nil {
		return nil, err
	}
	events, err := a.svc.SessionEvents(ctx, ss.StreamID)
	if err != nil {
		return nil, err
	}
	out := streamSessionWire{
		StreamID: ss.StreamID, StartTime: ss.StartTime.UTC(), EndTime: endTime(ss),
		Channel: a.channel(c, ss.Channel), IngestConfiguration: legacyIngest(ss.Ingest),
		IngestConfigurations: ingestConfigurations(ss.Ingest), TruncatedEvents: events,
	}
	if arn := ss.Channel.RecordingConfigurationARN; arn != "" {
		// The configuration as it is now; one deleted since is left out.
		if rc, err := a.svc.GetRecordingConfiguration(ctx, arn); err == nil {
			out.RecordingConfiguration = &rc
		}
	}
	return streamSessionOutput{out}, nil
}

// ingestConfigurations never answers null lists.
func ingestConfigurations(in ivs.IngestConfigurations) ivs.IngestConfigurations {
	if in.Video == nil {
		in.Video = []ivs.VideoConfiguration{}
	}
	if in.Audio == nil {
		in.Audio = []ivs.AudioConfiguration{}
	}
	return in
}

// legacyIngest is the first video and audio track; IVS fills avcProfile and
// avcLevel there (and only there) for H.264.
func legacyIngest(in ivs.IngestConfigurations) *ingestConfiguration {
	if len(in.Video) == 0 && len(in.Audio) == 0 {
		return nil
	}
	var out ingestConfiguration
	if len(in.Video) > 0 {
		v := in.Video[0]
		if strings.HasPrefix(v.Codec, "avc1.") {
			v.AvcProfile, v.AvcLevel = v.Profile, v.Level
		}
		out.Video = &v
	}
	if len(in.Audio) > 0 {
		a := in.Audio[0]
		out.Audio = &a
	}
	return &out
}

func listStreamSessions(ctx context.Context, a *API, _ *call, in *ivs.ListStreamSessionsInput) (any, error) {
	ss, next, err := a.svc.ListStreamSessions(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listStreamSessionsOutput{StreamSessions: make([]streamSessionSummary, len(ss)), NextToken: next}
	for i, s := range ss {
		out.StreamSessions[i] = streamSessionSummary{StreamID: s.StreamID, StartTime: s.StartTime.UTC(), EndTime: endTime(s),
			HasErrorEvent: s.HasErrorEvent}
	}
	return out, nil
}

// tagger serves the tag operations of one service's resources.
type tagger interface {
	ListTagsForResource(ctx context.Context, arn string) (map[string]string, error)
	TagResource(ctx context.Context, arn string, tags map[string]string) error
	UntagResource(ctx context.Context, arn string, keys []string) error
}

// tagger is the service whose resource arn names: the tag operations share
// one path for IVS and IVS Chat (serviceOf).
func (a *API) tagger(arn string) tagger {
	if isChatARN(arn) {
		return a.chatSvc
	}
	if a.rtSvc != nil {
		if parsed, err := ivs.ParseARN("resourceArn", arn); err == nil && ivsrealtime.OwnsResourceType(parsed.Resource) {
			return a.rtSvc
		}
	}
	return a.svc
}

func listTags(ctx context.Context, a *API, c *call) (any, error) {
	arn := c.r.PathValue("resourceArn")
	tags, err := a.tagger(arn).ListTagsForResource(ctx, arn)
	if err != nil {
		return nil, err
	}
	return tagsOutput{nonNil(tags)}, nil
}

func tagResource(ctx context.Context, a *API, c *call, in *tagResourceInput) (any, error) {
	arn := c.r.PathValue("resourceArn")
	return struct{}{}, a.tagger(arn).TagResource(ctx, arn, in.Tags)
}

func untagResource(ctx context.Context, a *API, c *call) (any, error) {
	keys, ok := c.r.URL.Query()["tagKeys"]
	if !ok {
		return nil, ivs.Validation("tagKeys", "tagKeys is required")
	}
	arn := c.r.PathValue("resourceArn")
	return struct{}{}, a.tagger(arn).UntagResource(ctx, arn, keys)
}
