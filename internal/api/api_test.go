package api

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/smithy-go"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/store/sqlite"
	"github.com/onair-video/onair/internal/stream"
)

const testRegion = "us-west-2"

// env is an API on a real SQLite store and live registry, served over
// HTTP to the real SDK client.
type env struct {
	t       *testing.T
	svc     *ivs.Service
	chatSvc *ivschat.Service
	rtSvc   *ivsrealtime.Service
	store   *sqlite.Store
	reg     *live.Registry
	account ivs.Account
	srv     *httptest.Server
	client  *sdk.Client
	// metadata gets what PutMetadata put into LOW latency streams.
	metadata chan string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with tweak applied to the API's Config.
func newEnvWith(t *testing.T, tweak func(*Config)) *env {
	t.Helper()
	return newEnvOf(t, ivs.Config{}, tweak)
}

// newEnvOf is newEnvWith on a service with svcCfg's settings (the store
// and the account are set here).
func newEnvOf(t *testing.T, svcCfg ivs.Config, tweak func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	acct, _, err := ivs.EnsureAccount(ctx, st, "", "")
	if err != nil {
		t.Fatal(err)
	}
	svcCfg.Region, svcCfg.AccountID, svcCfg.Stores = testRegion, acct.ID, ivs.StoresOf(st)
	svc := ivs.NewService(svcCfg)
	chatSvc := ivschat.New(ivschat.Config{Region: testRegion, AccountID: acct.ID, Docs: st})
	log := slog.New(slog.DiscardHandler)
	reg := live.New(svc, log)
	t.Cleanup(func() { reg.Close(context.Background()) })
	metadata := &metadataCapture{got: make(chan string, 64)}
	reg.AddConsumer(metadata)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rtSvc := ivsrealtime.New(ivsrealtime.Config{Region: testRegion, AccountID: acct.ID, Docs: st, Sessions: st})
	cfg := Config{
		Service: svc, ChatService: chatSvc, RealtimeService: rtSvc, Live: live.Local{Registry: reg}, Account: acct, Log: log,
		StageEndpoints: func(*http.Request) ivsrealtime.Endpoints {
			return ivsrealtime.EndpointsFor("media.example", 8443, 8080)
		},
		Endpoints: func(*http.Request) ivs.Endpoints {
			return ivs.Endpoints{Host: "media.example", HTTPPort: 8080, RTMPSPort: 1936, RTMPPort: 1935, Region: testRegion, Account: acct.ID}
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	New(cfg).Register(mux)
	e := &env{t: t, svc: svc, chatSvc: chatSvc, rtSvc: rtSvc, store: st, reg: reg, account: acct, srv: srv, metadata: metadata.got}
	e.client = e.clientWith(acct.AccessKeyID, acct.SecretAccessKey.Reveal())
	return e
}

func (e *env) clientWith(akid, secret string) *sdk.Client {
	return sdk.New(sdk.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(e.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		// One attempt: a test must see the first answer.
		RetryMaxAttempts: 1,
	})
}

func (e *env) createChannel(name string) (types.Channel, types.StreamKey) {
	e.t.Helper()
	out, err := e.client.CreateChannel(context.Background(), &sdk.CreateChannelInput{Name: aws.String(name)})
	if err != nil {
		e.t.Fatalf("CreateChannel: %v", err)
	}
	return *out.Channel, *out.StreamKey
}

// goLive makes a channel live through the registry, as an ingest would.
func (e *env) goLive(key string) *live.Publisher {
	e.t.Helper()
	ctx := context.Background()
	pub, err := e.reg.Claim(ctx, key, live.ConnInfo{Protocol: "rtmps", Remote: "127.0.0.1:1", Secure: true})
	if err != nil {
		e.t.Fatal(err)
	}
	hub, err := pub.Start(ctx, []*stream.Track{{Index: 0, Codec: &stream.H264{}, ClockRate: 90000}}, live.Metadata{})
	if err != nil {
		e.t.Fatal(err)
	}
	hub.Write(&stream.Unit{Track: hub.Tracks()[0], Payload: [][]byte{{5}}, RandomAccess: true, NTP: time.Now()})
	e.t.Cleanup(pub.Close)
	return pub
}

// wantCode checks that err is the typed SDK error T, decoded from our wire
// shape, and that its message contains each of contains.
func wantCode[T interface {
	error
	ErrorCode() string
}](t *testing.T, err error, contains ...string) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("err = %v (%T), want %T", err, err, target)
	}
	msg := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg = ae.ErrorMessage()
	}
	// IVS's typed errors carry the message in ExceptionMessage.
	switch x := any(target).(type) {
	case *types.ValidationException:
		msg = aws.ToString(x.ExceptionMessage)
	case *types.ResourceNotFoundException:
		msg = aws.ToString(x.ExceptionMessage)
	case *types.ConflictException:
		msg = aws.ToString(x.ExceptionMessage)
	case *types.ServiceQuotaExceededException:
		msg = aws.ToString(x.ExceptionMessage)
	case *types.ChannelNotBroadcasting:
		msg = aws.ToString(x.ExceptionMessage)
	}
	if msg == "" {
		t.Errorf("%T has no message", target)
	}
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("message %q does not contain %q", msg, c)
		}
	}
}

func TestChannelLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{
		Name: aws.String("demo"), Type: types.ChannelTypeBasicChannelType, LatencyMode: types.ChannelLatencyModeNormalLatency,
		Tags: map[string]string{"team": "video"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch, key := out.Channel, out.StreamKey
	id := (*ch.Arn)[strings.LastIndex(*ch.Arn, "/")+1:]
	for name, c := range map[string]bool{
		"arn":            strings.HasPrefix(*ch.Arn, "arn:aws:ivs:us-west-2:"+e.account.ID+":channel/") && len(id) == 12,
		"name":           aws.ToString(ch.Name) == "demo",
		"type":           ch.Type == types.ChannelTypeBasicChannelType,
		"latency":        ch.LatencyMode == types.ChannelLatencyModeNormalLatency,
		"ingestEndpoint": aws.ToString(ch.IngestEndpoint) == "media.example:1936",
		"playbackUrl":    aws.ToString(ch.PlaybackUrl) == "http://media.example:8080/api/video/v1/us-west-2."+e.account.ID+".channel."+id+".m3u8",
		"container":      ch.ContainerFormat == types.ContainerFormatTs,
		"tags":           ch.Tags["team"] == "video",
		"srt passphrase": ch.Srt != nil && len(aws.ToString(ch.Srt.Passphrase)) >= 10,
		"key channel":    aws.ToString(key.ChannelArn) == *ch.Arn,
		"key value":      strings.HasPrefix(aws.ToString(key.Value), "sk_us-west-2_"),
		"key arn":        strings.Contains(aws.ToString(key.Arn), ":stream-key/"),
	} {
		if !c {
			t.Errorf("CreateChannel: %s is wrong: %+v %+v", name, ch, key)
		}
	}

	got, err := e.client.GetChannel(ctx, &sdk.GetChannelInput{Arn: ch.Arn})
	if err != nil || aws.ToString(got.Channel.Name) != "demo" || aws.ToString(got.Channel.PlaybackUrl) != aws.ToString(ch.PlaybackUrl) {
		t.Fatalf("GetChannel: %+v %v", got, err)
	}

	up, err := e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{
		Arn: ch.Arn, Name: aws.String("renamed"), LatencyMode: types.ChannelLatencyModeLowLatency,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Absent fields are unchanged.
	if c := up.Channel; aws.ToString(c.Name) != "renamed" || c.LatencyMode != types.ChannelLatencyModeLowLatency || c.Type != types.ChannelTypeBasicChannelType {
		t.Fatalf("UpdateChannel: %+v", c)
	}

	if _, err := e.client.DeleteChannel(ctx, &sdk.DeleteChannelInput{Arn: ch.Arn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetChannel(ctx, &sdk.GetChannelInput{Arn: ch.Arn})
	wantCode[*types.ResourceNotFoundException](t, err, *ch.Arn)
	_, err = e.client.GetStreamKey(ctx, &sdk.GetStreamKeyInput{Arn: key.Arn})
	wantCode[*types.ResourceNotFoundException](t, err)
	_, err = e.client.DeleteChannel(ctx, &sdk.DeleteChannelInput{Arn: ch.Arn})
	wantCode[*types.ResourceNotFoundException](t, err)
	_, err = e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{Arn: ch.Arn, Name: aws.String("x")})
	wantCode[*types.ResourceNotFoundException](t, err)
}

func TestCreateChannelDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ch, _ := e.createChannel("")
	if ch.Type != types.ChannelTypeStandardChannelType || ch.LatencyMode != types.ChannelLatencyModeLowLatency ||
		ch.Authorized || ch.InsecureIngest || ch.Preset != "" || ch.Tags == nil ||
		aws.ToString(ch.RecordingConfigurationArn) != "" {
		t.Fatalf("defaults: %+v", ch)
	}
}

func TestListChannels(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var arns []string
	for _, n := range []string{"a", "b", "c", "b", "e"} {
		ch, _ := e.createChannel(n)
		arns = append(arns, *ch.Arn)
	}
	var seen []string
	pages := 0
	p := sdk.NewListChannelsPaginator(e.client, &sdk.ListChannelsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range out.Channels {
			seen = append(seen, *c.Arn)
		}
	}
	if pages != 3 || len(seen) != 5 {
		t.Fatalf("paginated %d pages, %d channels; want 3 and 5", pages, len(seen))
	}
	for _, a := range arns {
		n := 0
		for _, s := range seen {
			if s == a {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s listed %d times", a, n)
		}
	}

	out, err := e.client.ListChannels(ctx, &sdk.ListChannelsInput{FilterByName: aws.String("b")})
	if err != nil || len(out.Channels) != 2 || out.NextToken != nil {
		t.Fatalf("filterByName: %+v %v", out, err)
	}

	tests := []struct {
		name string
		in   *sdk.ListChannelsInput
		test func(*testing.T, error)
	}{
		{"two filters", &sdk.ListChannelsInput{FilterByName: aws.String("b"), FilterByRecordingConfigurationArn: aws.String("arn:aws:ivs:us-west-2:123456789012:recording-configuration/abcdABCDefgh")},
			func(t *testing.T, err error) { wantCode[*types.ConflictException](t, err, "filterByName") }},
		{"maxResults too big", &sdk.ListChannelsInput{MaxResults: aws.Int32(101)},
			func(t *testing.T, err error) { wantCode[*types.ValidationException](t, err, "maxResults") }},
		{"bad token", &sdk.ListChannelsInput{NextToken: aws.String("!!")},
			func(t *testing.T, err error) { wantCode[*types.ValidationException](t, err, "nextToken") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.client.ListChannels(ctx, tt.in)
			tt.test(t, err)
		})
	}
}

func TestBatchGetChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, _ := e.createChannel("one")
	missing := "arn:aws:ivs:us-west-2:" + e.account.ID + ":channel/abcdABCDefgh"
	out, err := e.client.BatchGetChannel(ctx, &sdk.BatchGetChannelInput{Arns: []string{*ch.Arn, missing, "nonsense"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Channels) != 1 || aws.ToString(out.Channels[0].PlaybackUrl) == "" || len(out.Errors) != 2 {
		t.Fatalf("BatchGetChannel: %+v", out)
	}
	if aws.ToString(out.Errors[0].Arn) != missing || aws.ToString(out.Errors[0].Code) != "ResourceNotFoundException" ||
		aws.ToString(out.Errors[1].Code) != "ValidationException" || aws.ToString(out.Errors[1].Message) == "" {
		t.Fatalf("errors: %+v", out.Errors)
	}
	_, err = e.client.BatchGetChannel(ctx, &sdk.BatchGetChannelInput{Arns: make([]string, 51)})
	wantCode[*types.ValidationException](t, err, "arns")
}

func TestStreamKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, key := e.createChannel("keys")

	_, err := e.client.CreateStreamKey(ctx, &sdk.CreateStreamKeyInput{ChannelArn: ch.Arn})
	wantCode[*types.ServiceQuotaExceededException](t, err)

	list, err := e.client.ListStreamKeys(ctx, &sdk.ListStreamKeysInput{ChannelArn: ch.Arn})
	if err != nil || len(list.StreamKeys) != 1 || aws.ToString(list.StreamKeys[0].Arn) != *key.Arn || list.NextToken != nil {
		t.Fatalf("ListStreamKeys: %+v %v", list, err)
	}
	got, err := e.client.GetStreamKey(ctx, &sdk.GetStreamKeyInput{Arn: key.Arn})
	if err != nil || aws.ToString(got.StreamKey.Value) != *key.Value {
		t.Fatalf("GetStreamKey: %+v %v", got, err)
	}
	batch, err := e.client.BatchGetStreamKey(ctx, &sdk.BatchGetStreamKeyInput{Arns: []string{*key.Arn, *ch.Arn}})
	if err != nil || len(batch.StreamKeys) != 1 || len(batch.Errors) != 1 || aws.ToString(batch.StreamKeys[0].Value) != *key.Value {
		t.Fatalf("BatchGetStreamKey: %+v %v", batch, err)
	}

	if _, err := e.client.DeleteStreamKey(ctx, &sdk.DeleteStreamKeyInput{Arn: key.Arn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetStreamKey(ctx, &sdk.GetStreamKeyInput{Arn: key.Arn})
	wantCode[*types.ResourceNotFoundException](t, err)
	_, err = e.client.DeleteStreamKey(ctx, &sdk.DeleteStreamKeyInput{Arn: key.Arn})
	wantCode[*types.ResourceNotFoundException](t, err)

	nk, err := e.client.CreateStreamKey(ctx, &sdk.CreateStreamKeyInput{ChannelArn: ch.Arn, Tags: map[string]string{"k": "v"}})
	if err != nil || aws.ToString(nk.StreamKey.Value) == *key.Value || nk.StreamKey.Tags["k"] != "v" {
		t.Fatalf("CreateStreamKey after delete: %+v %v", nk, err)
	}
	// The old key no longer opens the channel.
	if _, err := e.reg.Claim(ctx, *key.Value, live.ConnInfo{}); !errors.Is(err, live.ErrUnknownKey) {
		t.Fatalf("deleted key: %v", err)
	}

	_, err = e.client.ListStreamKeys(ctx, &sdk.ListStreamKeysInput{ChannelArn: aws.String("arn:aws:ivs:us-west-2:" + e.account.ID + ":channel/abcdABCDefgh")})
	wantCode[*types.ResourceNotFoundException](t, err)
	_, err = e.client.ListStreamKeys(ctx, &sdk.ListStreamKeysInput{ChannelArn: ch.Arn, MaxResults: aws.Int32(51)})
	wantCode[*types.ValidationException](t, err, "maxResults")
	_, err = e.client.GetStreamKey(ctx, &sdk.GetStreamKeyInput{Arn: ch.Arn})
	wantCode[*types.ValidationException](t, err, "arn")
}

func TestTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, key := e.createChannel("tags")
	for _, arn := range []string{*ch.Arn, *key.Arn} {
		if _, err := e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"a": "1", "b c": "2"}}); err != nil {
			t.Fatalf("TagResource %s: %v", arn, err)
		}
		if _, err := e.client.UntagResource(ctx, &sdk.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"a", "absent"}}); err != nil {
			t.Fatalf("UntagResource %s: %v", arn, err)
		}
		out, err := e.client.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil || len(out.Tags) != 1 || out.Tags["b c"] != "2" {
			t.Fatalf("ListTagsForResource %s: %+v %v", arn, out, err)
		}
	}
	got, err := e.client.GetChannel(ctx, &sdk.GetChannelInput{Arn: ch.Arn})
	if err != nil || got.Channel.Tags["b c"] != "2" {
		t.Fatalf("tags not on the channel: %+v %v", got, err)
	}

	missing := "arn:aws:ivs:us-west-2:" + e.account.ID + ":channel/abcdABCDefgh"
	_, err = e.client.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: aws.String(missing)})
	wantCode[*types.ResourceNotFoundException](t, err)
	_, err = e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: ch.Arn, Tags: map[string]string{"bad{": "x"}})
	wantCode[*types.ValidationException](t, err, "tags")
	_, err = e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: aws.String("arn:aws:s3:::bucket"), Tags: map[string]string{"a": "b"}})
	wantCode[*types.ValidationException](t, err, "resourceArn")
}

func TestValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		do    func() error
		field string
	}{
		{"latencyMode", func() error {
			_, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{LatencyMode: "FAST"})
			return err
		}, "latencyMode"},
		{"type", func() error {
			_, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{Type: "HUGE"})
			return err
		}, "type"},
		{"name", func() error {
			_, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{Name: aws.String("no spaces")})
			return err
		}, "name"},
		{"arn", func() error {
			_, err := e.client.GetChannel(ctx, &sdk.GetChannelInput{Arn: aws.String("arn:aws:ivs:us-west-2:1:stream-key/abc")})
			return err
		}, "arn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantCode[*types.ValidationException](t, tt.do(), tt.field)
		})
	}
	// A recording configuration that does not exist.
	_, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{
		RecordingConfigurationArn: aws.String("arn:aws:ivs:us-west-2:" + e.account.ID + ":recording-configuration/abcdABCDefgh"),
	})
	wantCode[*types.ResourceNotFoundException](t, err)
}

// sdkCode returns the error code an SDK error carries.
func sdkCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an API error", err)
	}
	return ae.ErrorCode()
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	_, err := e.clientWith(e.account.AccessKeyID, "wrong-secret").ListChannels(ctx, &sdk.ListChannelsInput{})
	if c := sdkCode(t, err); c != "InvalidSignatureException" {
		t.Errorf("wrong secret: %s", c)
	}
	_, err = e.clientWith("AKIAUNKNOWN000000000", e.account.SecretAccessKey.Reveal()).ListChannels(ctx, &sdk.ListChannelsInput{})
	if c := sdkCode(t, err); c != "UnrecognizedClientException" {
		t.Errorf("unknown key id: %s", c)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != http.StatusForbidden {
		t.Errorf("status %d", re.HTTPStatusCode())
	}

	// Signed by the SDK's signer skew from now, changed by mutate, sent by hand.
	send := func(t *testing.T, skew time.Duration, mutate func(*http.Request)) (int, http.Header, []byte) {
		t.Helper()
		r, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ListChannels", strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		sum := "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" // sha256("{}")
		creds := aws.Credentials{AccessKeyID: e.account.AccessKeyID, SecretAccessKey: e.account.SecretAccessKey.Reveal()}
		if err := v4.NewSigner().SignHTTP(ctx, creds, r, sum, "ivs", testRegion, time.Now().Add(skew)); err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(r)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, b
	}
	tests := []struct {
		name     string
		skew     time.Duration
		mutate   func(*http.Request)
		status   int
		errType  string
		contains string
	}{
		{"signed now", 0, nil, 200, "", ""},
		{"signed 10 min ago", -10 * time.Minute, nil, 200, "", ""},
		{"signed 20 min ago", -20 * time.Minute, nil, 403, "InvalidSignatureException", "Signature expired"},
		{"signed 20 min ahead", 20 * time.Minute, nil, 403, "InvalidSignatureException", "Signature expired"},
		{"body changed", 0, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{ }`))
			r.ContentLength = 3
		}, 403, "InvalidSignatureException", "signature"},
		{"signed header changed", 0, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			403, "InvalidSignatureException", ""},
		{"other service", 0, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/ivs/", "/s3/", 1))
		}, 403, "IncompleteSignatureException", "service"},
		{"garbage", 0, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") },
			403, "IncompleteSignatureException", ""},
		{"unsigned", 0, func(r *http.Request) { r.Header.Del("Authorization") },
			403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, h, b := send(t, tt.skew, tt.mutate)
			if status != tt.status || h.Get("X-Amzn-Errortype") != tt.errType {
				t.Fatalf("%d %q %s, want %d %q", status, h.Get("X-Amzn-Errortype"), b, tt.status, tt.errType)
			}
			if h.Get("X-Amzn-Requestid") == "" {
				t.Error("no request id")
			}
			if !strings.Contains(string(b), tt.contains) {
				t.Errorf("body %s does not contain %q", b, tt.contains)
			}
		})
	}
}

func TestUnknownAndUnservedOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.client.CreateAdConfiguration(ctx, &sdk.CreateAdConfigurationInput{
		MediaTailorPlaybackConfigurations: []types.MediaTailorPlaybackConfiguration{{PlaybackConfigurationArn: aws.String("arn:aws:mediatailor:us-west-2:1:playbackConfiguration/x")}}})
	wantCode[*types.ValidationException](t, err, "CreateAdConfiguration", "api-compat")

	// An operation IVS does not have, signed by the SDK's signer.
	r, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/FlyToTheMoon", strings.NewReader(`{}`))
	creds := aws.Credentials{AccessKeyID: e.account.AccessKeyID, SecretAccessKey: e.account.SecretAccessKey.Reveal()}
	if err := v4.NewSigner().SignHTTP(ctx, creds, r, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "ivs", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-Errortype") != codeUnknownOperation {
		t.Fatalf("unknown operation: %d %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
	}
}

var update = flag.Bool("update", false, "rewrite docs/api-compat.md")

// TestCompatDoc keeps docs/api-compat.md in step with the operation table.
func TestCompatDoc(t *testing.T) {
	const path = "../../docs/api-compat.md"
	want := CompatTable()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("docs/api-compat.md is stale: run go test ./internal/api -run TestCompatDoc -update")
	}
	if n := len(operations()); n != 40 {
		t.Fatalf("%d operations, IVS has 40", n)
	}
	if n := len(realtimeOperations()) + 3; n != 39 {
		t.Fatalf("%d operations, IVS Real-Time has 39", n)
	}
}

// A client over its request budget gets ThrottlingException (429), which
// the SDK's retryer backs off from; a badly signed flood is counted too.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(c *Config) { c.RateLimit = 5 }) // bursts of 10
	ctx := context.Background()
	bad := e.clientWith(e.account.AccessKeyID, "wrong-secret")
	for range 10 {
		_, err := bad.ListChannels(ctx, &sdk.ListChannelsInput{})
		if code := sdkCode(t, err); code != "InvalidSignatureException" {
			t.Fatalf("bad signature: %s", code)
		}
	}
	_, err := e.client.ListChannels(ctx, &sdk.ListChannelsInput{})
	var re *awshttp.ResponseError
	if code := sdkCode(t, err); code != "ThrottlingException" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusTooManyRequests {
		t.Fatalf("over budget: %v", err)
	}
	// The SDK's standard retryer waits and gets through.
	retrying := sdk.New(sdk.Options{
		Region: testRegion, BaseEndpoint: aws.String(e.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(e.account.AccessKeyID, e.account.SecretAccessKey.Reveal(), ""),
		RetryMaxAttempts: 10,
	})
	if _, err := retrying.ListChannels(ctx, &sdk.ListChannelsInput{}); err != nil {
		t.Fatalf("with retries: %v", err)
	}
}

// metadataCapture reads the timed metadata of LOW latency streams, as the
// LL-HLS muxer does.
type metadataCapture struct{ got chan string }

// Attach takes the metadata of the streams internal/hls carries it in:
// LL-HLS and MPEG-TS, not fMP4 HLS.
func (m *metadataCapture) Attach(st *live.Stream) (func(), error) {
	if st.Channel.LatencyMode == ivs.LatencyNormal && st.Channel.ContainerFormat == ivs.ContainerFMP4 {
		return nil, nil
	}
	return st.OnMetadata(func(b []byte) { m.got <- string(b) }), nil
}

// A body over MaxBodyBytes is refused before it is read whole, declared
// (Content-Length) or not (chunked).
func TestBodyCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().UTC()
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(make([]byte, MaxBodyBytes+1))
		if chunked {
			body = io.MultiReader(body) // no length: sent chunked
		}
		r, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ListChannels", body)
		r.Header.Set("X-Amz-Date", now.Format(amzDateFmt))
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+e.account.AccessKeyID+"/"+now.Format("20060102")+
			"/"+testRegion+"/ivs/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-Errortype") != "ValidationException" ||
			!strings.Contains(string(b), "exceeds the limit") {
			t.Fatalf("chunked=%v: %d %s %s", chunked, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
		}
	}
}
