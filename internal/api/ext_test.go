package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/internal/ivs"
)

// signedGet does a GET of path signed as an AWS SDK signs for service ivs.
func (e *env) signedGet(path string, secret string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if secret != "" {
		sum := sha256.Sum256(nil)
		creds := aws.Credentials{AccessKeyID: e.account.AccessKeyID, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ivs", testRegion, time.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func TestSessionMetricsAndUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ch, key := e.createChannel("metrics")
	pub := e.goLive(aws.ToString(key.Value))
	st, ok := e.reg.Get(chID(ch))
	if !ok {
		t.Fatal("not live")
	}
	start := st.StartTime.Truncate(time.Second).Add(time.Second)
	var pts []ivs.MetricPoint
	var stats ivs.SessionStats
	for i := range 5 {
		p := ivs.MetricPoint{Time: start.Add(time.Duration(i) * time.Second), Span: 1, VideoBitrate: int64(1000 * (i + 1)),
			Framerate: 30, AudioBitrate: 96000, KeyframeInterval: 2, Viewers: int64(i)}
		pts = append(pts, p)
		stats.Add(p)
	}
	if err := e.store.AppendMetrics(context.Background(), st.StreamID, pts, stats); err != nil {
		t.Fatal(err)
	}
	secret := e.account.SecretAccessKey.Reveal()
	base := "/v1/channels/" + chID(ch) + "/sessions/"

	status, _, body := e.signedGet(base+st.StreamID+"/metrics", secret)
	var out sessionMetricsOutput
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("metrics: %d %s", status, body)
	}
	if !out.Live || out.StreamID != st.StreamID || len(out.Points) != 5 || out.Points[4].VideoBitrate != 5000 ||
		out.Stats.Points != 5 || out.Stats.VideoBitrate.Max != 5000 || out.Stats.Viewers.Avg != 2 || out.ChannelARN != aws.ToString(ch.Arn) {
		t.Fatalf("metrics: %s", body)
	}
	// latest names the newest session; from/to select a window.
	from := start.Add(time.Second).Format(time.RFC3339)
	to := start.Add(3 * time.Second).Format(time.RFC3339)
	status, _, body = e.signedGet(base+"latest/metrics?from="+from+"&to="+to, secret)
	if err := json.Unmarshal(body, &out); status != http.StatusOK || err != nil || len(out.Points) != 2 {
		t.Fatalf("metrics window: %d %s", status, body)
	}

	tests := []struct {
		name, path, secret string
		status             int
		errType, contains  string
	}{
		{"bad from", base + st.StreamID + "/metrics?from=yesterday", secret, 400, "ValidationException", "from"},
		{"unknown session", base + "st-AAAAAAAAAAAAAAAAAAAAAAA/metrics", secret, 404, "ResourceNotFoundException", "st-AAAAAAAAAAAAAAAAAAAAAAA"},
		{"bad stream id", base + "nope/metrics", secret, 400, "ValidationException", "streamId"},
		{"unknown channel", "/v1/channels/AAAAAAAAAAAA/sessions/latest/metrics", secret, 404, "ResourceNotFoundException", ""},
		{"unsigned", base + st.StreamID + "/metrics", "", 403, "", ""},
		{"wrong secret", "/v1/usage", "not-the-secret", 403, "", ""},
		{"bad month", "/v1/usage?month=2026-13", secret, 400, "ValidationException", "month"},
	}
	for _, tc := range tests {
		got, h, b := e.signedGet(tc.path, tc.secret)
		if got != tc.status || !strings.Contains(h.Get("x-amzn-ErrorType"), tc.errType) || !strings.Contains(string(b), tc.contains) {
			t.Errorf("%s: %d %s %s", tc.name, got, h.Get("x-amzn-ErrorType"), b)
		}
	}

	// The session and its events through the SDK while live.
	got, err := e.client.GetStreamSession(context.Background(), &sdk.GetStreamSessionInput{ChannelArn: ch.Arn})
	if err != nil {
		t.Fatal(err)
	}
	ev := got.StreamSession.TruncatedEvents
	if len(ev) != 2 || aws.ToString(ev[0].Name) != "Stream Start" || aws.ToString(ev[1].Name) != "Session Created" ||
		got.StreamSession.IngestConfigurations == nil {
		t.Fatalf("GetStreamSession: %+v", got.StreamSession)
	}
	pub.Close()

	status, _, body = e.signedGet("/v1/usage", secret)
	var rep ivs.UsageReport
	if status != http.StatusOK || json.Unmarshal(body, &rep) != nil || len(rep.Channels) != 1 ||
		rep.Channels[0].ChannelARN != aws.ToString(ch.Arn) || rep.Channels[0].ViewerHours != 10.0/3600 || rep.Quota != nil {
		t.Fatalf("usage: %d %s", status, body)
	}
}

// chID is the id at the end of a channel's ARN.
func chID(ch types.Channel) string {
	arn := aws.ToString(ch.Arn)
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

func TestChannelInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := time.Now().Add(-time.Second)
	a, _ := e.createChannel("a")
	b, _ := e.createChannel("b")
	secret := e.account.SecretAccessKey.Reveal()

	// An id, an ARN and one that does not exist: the two that do. (A SigV4
	// signer sorts the query, so the answer's order is not the asking's.)
	status, _, body := e.signedGet("/v1/channels?id="+chID(a)+"&id="+aws.ToString(b.Arn)+"&id=AAAAAAAAAAAA", secret)
	var out channelInfoOutput
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Channels) != 2 {
		t.Fatalf("channel info: %d %s", status, body)
	}
	for _, c := range out.Channels {
		if (c.ARN != aws.ToString(a.Arn) && c.ARN != aws.ToString(b.Arn)) || c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now()) {
			t.Fatalf("channel info: %s", body)
		}
	}

	many := "/v1/channels?id=" + strings.Repeat("AAAAAAAAAAAA&id=", maxChannelInfo) + "AAAAAAAAAAAA"
	tests := []struct {
		name, path, secret string
		status             int
		errType, contains  string
	}{
		{"no id", "/v1/channels", secret, 400, "ValidationException", "id"},
		{"too many", many, secret, 400, "ValidationException", "at most 100"},
		{"malformed ARN", "/v1/channels?id=arn:nope", secret, 400, "ValidationException", "arn"},
		{"unsigned", "/v1/channels?id=" + chID(a), "", 403, "", ""},
	}
	for _, tc := range tests {
		got, h, b := e.signedGet(tc.path, tc.secret)
		if got != tc.status || !strings.Contains(h.Get("x-amzn-ErrorType"), tc.errType) || !strings.Contains(string(b), tc.contains) {
			t.Errorf("%s: %d %s %s", tc.name, got, h.Get("x-amzn-ErrorType"), b)
		}
	}
}
