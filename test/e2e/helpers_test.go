package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/golang-jwt/jwt/v5"

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
		switch {
		case errors.As(err, &cnb):
			return nil
		case err != nil:
			return fmt.Errorf("GetStream: %w, want ChannelNotBroadcasting", err)
		}
		return errors.New("GetStream: live, want ChannelNotBroadcasting")
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

// recordTo is a recording configuration for bucket without thumbnails.
func recordTo(bucket string) *ivs.CreateRecordingConfigurationInput {
	return &ivs.CreateRecordingConfigurationInput{
		DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String(bucket)}},
		ThumbnailConfiguration:   &types.ThumbnailConfiguration{RecordingMode: types.RecordingModeDisabled},
	}
}

// createRecording creates a recording configuration and waits until its
// bucket took a write (ACTIVE).
func createRecording(t *testing.T, c *ivs.Client, in *ivs.CreateRecordingConfigurationInput) *types.RecordingConfiguration {
	t.Helper()
	ctx := harness.Context(t, 15*time.Second)
	out, err := c.CreateRecordingConfiguration(ctx, in)
	if err != nil {
		t.Fatalf("CreateRecordingConfiguration: %v", err)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		g, err := c.GetRecordingConfiguration(ctx, &ivs.GetRecordingConfigurationInput{Arn: out.RecordingConfiguration.Arn})
		if err != nil {
			return fmt.Errorf("GetRecordingConfiguration: %w", err)
		}
		if st := g.RecordingConfiguration.State; st != types.RecordingConfigurationStateActive {
			return fmt.Errorf("recording configuration %s, want ACTIVE", st)
		}
		return nil
	})
	return out.RecordingConfiguration
}

// download copies every object under prefix in an S3 bucket into a new
// directory, keyed by the rest of their keys, and returns it.
func download(t *testing.T, ctx context.Context, s3srv *harness.S3Server, bucket, prefix string) string {
	t.Helper()
	keys, err := s3srv.Keys(ctx, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, k := range keys {
		b, err := s3srv.Get(ctx, bucket, k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.TrimPrefix(k, prefix))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// realtime runs `aws ivs-realtime {args}` and decodes its JSON answer
// into out (nil: none wanted), failing the test on an error.
func (c *awsCLI) realtime(out any, args ...string) {
	c.t.Helper()
	b := c.run(append([]string{"ivs-realtime"}, args...)...)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s: %v\n%s", args[0], err, b)
		}
	}
}

// importStageKey makes an ES384 key pair and imports its public key with
// `aws ivs-realtime import-public-key`, as a customer who signs its own
// participant tokens does; it returns the private key and the public
// key's ARN (the tokens' kid).
func importStageKey(t *testing.T, cli *awsCLI) (*ecdsa.PrivateKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var pk struct{ PublicKey struct{ Arn string } }
	cli.realtime(&pk, "import-public-key", "--public-key-material", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	return priv, pk.PublicKey.Arn
}

// signStageToken signs a participant token of stageARN for participant
// jti with both capabilities, expiring at exp, and the extra claims; kid
// "" leaves the header without one.
func signStageToken(t *testing.T, method jwt.SigningMethod, key any, kid, stageARN, jti string, exp time.Time, extra ...jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{"exp": exp.Unix(), "iat": time.Now().Unix(), "jti": jti, "resource": stageARN,
		"topic": stageARN[strings.LastIndex(stageARN, "/")+1:], "version": "1.0",
		"capabilities": map[string]bool{"allow_publish": true, "allow_subscribe": true}}
	for _, e := range extra {
		maps.Copy(claims, e)
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// stageEventsReplay opens the signed SSE stream of a stage's events from
// the start (Last-Event-ID 0); it lasts at most 15 s, and closes with the
// test (or earlier, by its Close).
func stageEventsReplay(ctx context.Context, t *testing.T, s *harness.Server, stageARN string) io.ReadCloser {
	t.Helper()
	sseCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	t.Cleanup(cancel)
	req, err := s.SignedRequest(sseCtx, "/v1/events?stageArn="+stageARN, http.Header{"Last-Event-ID": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events SSE: %v %+v", err, resp)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp.Body
}
