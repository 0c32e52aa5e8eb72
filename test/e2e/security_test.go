package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/test/e2e/harness"
)

// playbackSigner signs IVS playback tokens with a P-384 key.
type playbackSigner struct {
	key *ecdsa.PrivateKey
}

func newPlaybackSigner(t *testing.T) *playbackSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &playbackSigner{key: k}
}

func (p *playbackSigner) publicPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (p *playbackSigner) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodES384, claims).SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withToken(u, tok string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "token=" + tok
}

func status(t *testing.T, u string, header http.Header) int {
	t.Helper()
	req, err := http.NewRequestWithContext(harness.Context(t, 10*time.Second), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A private channel end to end: the key pair is imported with the aws CLI,
// ffmpeg publishes over RTMPS (plain RTMP is refused: insecureIngest is
// false), and playback takes only tokens signed with the imported key for
// this channel and unexpired; the session credential then rides on every
// playlist, part and segment URI; WHEP takes the same token; revoking the
// viewer ends its HLS and WHEP playback; deleting the stream key cuts the
// publisher off.
func TestPrivateChannel(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	cli := newCLI(t, s)
	signer := newPlaybackSigner(t)

	pemFile := filepath.Join(t.TempDir(), "public.pem")
	if err := os.WriteFile(pemFile, []byte(signer.publicPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	var imported struct {
		KeyPair struct{ Arn, Name, Fingerprint string } `json:"keyPair"`
	}
	out := cli.run("ivs", "import-playback-key-pair", "--name", "player", "--public-key-material", "file://"+pemFile)
	if err := json.Unmarshal(out, &imported); err != nil || !strings.Contains(imported.KeyPair.Arn, ":playback-key/") || imported.KeyPair.Fingerprint == "" {
		t.Fatalf("import-playback-key-pair: %v %s", err, out)
	}
	cli.fail("ConflictException", "already imported", "ivs", "import-playback-key-pair", "--public-key-material", "file://"+pemFile)

	ctx := harness.Context(t, 2*time.Minute)
	created, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("private"), Authorized: true,
		Type: types.ChannelTypeBasicChannelType, LatencyMode: types.ChannelLatencyModeLowLatency})
	if err != nil {
		t.Fatal(err)
	}
	ch, key := created.Channel, aws.ToString(created.StreamKey.Value)
	arn := aws.ToString(ch.Arn)
	other, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("other"), Authorized: true})
	if err != nil {
		t.Fatal(err)
	}

	// Plain RTMP is refused on a channel without insecureIngest.
	plain := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(key)})
	if err := plain.Wait(15 * time.Second); err == nil || strings.Contains(err.Error(), "still running") {
		t.Fatalf("plain RTMP: %v, want a refusal", err)
	}
	s.WaitLog(t, "secure ingest", 10*time.Second) // the refusal's reason
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPSURL(key), Size: "640x360", Rate: 30, GOP: 30})
	waitLive(t, c, arn)

	playbackURL := aws.ToString(ch.PlaybackUrl)
	now := time.Now()
	valid := jwt.MapClaims{"aws:channel-arn": arn, "exp": now.Add(5 * time.Minute).Unix(),
		"aws:viewer-id": "amy", "aws:viewer-session-version": 1}
	claims := func(change jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range valid {
			c[k] = v
		}
		for k, v := range change {
			c[k] = v
		}
		return c
	}
	stranger := newPlaybackSigner(t)
	for name, u := range map[string]string{
		"no token":      playbackURL,
		"forged":        withToken(playbackURL, stranger.token(t, claims(nil))),
		"expired":       withToken(playbackURL, signer.token(t, claims(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}))),
		"other channel": withToken(playbackURL, signer.token(t, claims(jwt.MapClaims{"aws:channel-arn": aws.ToString(other.Channel.Arn)}))),
		"garbage":       withToken(playbackURL, "eyJhbGciOiJub25lIn0.e30."),
	} {
		harness.Eventually(t, 20*time.Second, func() error {
			// 503 while the first segment is being made; then the refusal.
			if st := status(t, u, nil); st != http.StatusForbidden {
				return fmt.Errorf("%s: status %d, want 403", name, st)
			}
			return nil
		})
	}

	tok := signer.token(t, claims(nil))
	mv, res := waitMultivariant(t, withToken(playbackURL, tok))
	mediaURL := harness.Resolve(playbackURL, mv.Variants[0].URI)
	if !strings.Contains(mediaURL, "token=s1.") || strings.Contains(mediaURL, tok) {
		t.Fatalf("variant URI %s does not carry a session credential in place of the token\n%s", mediaURL, res.Body)
	}
	_, seg := waitSegment(t, ctx, mediaURL)
	segURL := harness.Resolve(mediaURL, seg.URI)
	if !strings.Contains(segURL, "token=s1.") {
		t.Fatalf("segment URI %s lacks the session credential", segURL)
	}
	// Every part listed, of the complete segments and of the one in
	// progress (m.Parts, empty in a playlist read just as a segment ended:
	// CI read one).
	var parts []string
	harness.Eventually(t, 20*time.Second, func() error {
		m, _, err := harness.FetchMedia(ctx, mediaURL)
		if err != nil {
			return err
		}
		parts = parts[:0]
		for _, sg := range m.Segments {
			for _, p := range sg.Parts {
				parts = append(parts, p.URI)
			}
		}
		for _, p := range m.Parts {
			parts = append(parts, p.URI)
		}
		if len(parts) == 0 {
			return fmt.Errorf("the media playlist lists no part")
		}
		return nil
	})
	for _, p := range parts {
		if !strings.Contains(p, "token=s1.") {
			t.Fatalf("part %s lacks the session credential (parts %q)", p, parts)
		}
	}
	if st := status(t, segURL, nil); st != http.StatusOK {
		t.Fatalf("segment with the session credential: %d", st)
	}
	bare := strings.Split(segURL, "?")[0]
	if st := status(t, bare, nil); st != http.StatusForbidden {
		t.Fatalf("segment without a token: %d, want 403", st)
	}
	otherCred := strings.Replace(segURL, "token=s1.", "token=s1.x", 1)
	if st := status(t, otherCred, nil); st != http.StatusForbidden {
		t.Fatalf("segment with a tampered credential: %d, want 403", st)
	}
	thumb := s.Endpoint() + "/api/video/v1/" + arn[strings.LastIndexByte(arn, '/')+1:] + "/thumb.jpg"
	if st := status(t, thumb, nil); st != http.StatusForbidden {
		t.Errorf("thumbnail without a token: %d, want 403", st)
	}

	// The console's preview: a credential for the signed-in admin.
	var preview struct{ Token string }
	if err := s.GetJSON(ctx, "/v1/channels/"+arn[strings.LastIndexByte(arn, '/')+1:]+"/playback-token", &preview); err != nil {
		t.Fatal(err)
	}
	if _, _, err := harness.FetchMultivariant(ctx, withToken(playbackURL, preview.Token)); err != nil {
		t.Errorf("the console's preview credential: %v", err)
	}
	if st := status(t, withToken(thumb, preview.Token), nil); st != http.StatusOK {
		t.Errorf("thumbnail with the preview credential: %d", st)
	}

	whepURL := s.Endpoint() + "/whep/" + arn[strings.LastIndexByte(arn, '/')+1:]
	if _, err := harness.WatchWHEP(ctx, whepURL); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("WHEP without a token: %v, want 403", err)
	}
	viewer, err := harness.WatchWHEP(ctx, withToken(whepURL, signer.token(t, claims(nil))))
	if err != nil {
		t.Fatalf("WHEP with a token: %v", err)
	}
	defer viewer.Close()
	harness.Eventually(t, 15*time.Second, func() error {
		if n := len(viewer.Frames()); n < 10 {
			return fmt.Errorf("%d WHEP frames", n)
		}
		return nil
	})

	// Revoking amy's sessions up to version 1 ends her playback at once.
	if _, err := c.StartViewerSessionRevocation(ctx, &ivs.StartViewerSessionRevocationInput{ChannelArn: ch.Arn,
		ViewerId: aws.String("amy"), ViewerSessionVersionsLessThanOrEqualTo: 1}); err != nil {
		t.Fatal(err)
	}
	if st := status(t, mediaURL, nil); st != http.StatusForbidden {
		t.Errorf("media playlist after revocation: %d, want 403", st)
	}
	harness.Eventually(t, 15*time.Second, func() error {
		if st := viewer.PC.ConnectionState(); st != webrtc.PeerConnectionStateClosed && st != webrtc.PeerConnectionStateFailed &&
			st != webrtc.PeerConnectionStateDisconnected {
			return fmt.Errorf("WHEP viewer still %s", st)
		}
		return nil
	})
	// A new session version plays again.
	if _, _, err := harness.FetchMultivariant(ctx, withToken(playbackURL, signer.token(t, claims(jwt.MapClaims{"aws:viewer-session-version": 2})))); err != nil {
		t.Errorf("version 2 after revoking up to 1: %v", err)
	}

	// Deleting the stream key cuts the publisher off (within a second on
	// a quiet machine; ffmpeg must notice and exit, which a loaded one
	// may delay).
	keys, err := c.ListStreamKeys(ctx, &ivs.ListStreamKeysInput{ChannelArn: ch.Arn})
	if err != nil || len(keys.StreamKeys) != 1 {
		t.Fatalf("ListStreamKeys: %v", err)
	}
	start := time.Now()
	if _, err := c.DeleteStreamKey(ctx, &ivs.DeleteStreamKeyInput{Arn: keys.StreamKeys[0].Arn}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.Done():
		t.Logf("publisher cut off %v after DeleteStreamKey", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("the publisher is still connected 10 s after its key was deleted")
	}
	waitOffline(t, c, arn, 10*time.Second)
}

// A playback restriction policy made with the aws CLI limits a public
// channel's playback to its origins: a browser's Origin must be listed,
// strict enforcement refuses requests without one, and the answer names
// the origin in Access-Control-Allow-Origin. allowedCountries without a
// GeoIP database refuses public addresses only; loopback plays.
func TestPlaybackRestrictionPolicy(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	cli := newCLI(t, s)
	var created struct {
		Policy struct {
			Arn            string   `json:"arn"`
			AllowedOrigins []string `json:"allowedOrigins"`
		} `json:"playbackRestrictionPolicy"`
	}
	out := cli.run("ivs", "create-playback-restriction-policy", "--name", "site",
		// JSON: the CLI fetches a bare http(s) value as a parameter file.
		"--allowed-origins", `["https://www.example.com"]`, "--allowed-countries", "GB", "--enable-strict-origin-enforcement")
	if err := json.Unmarshal(out, &created); err != nil || len(created.Policy.AllowedOrigins) != 1 {
		t.Fatalf("create-playback-restriction-policy: %v %s", err, out)
	}
	cli.fail("ValidationException", "allowedCountries", "ivs", "create-playback-restriction-policy", "--allowed-countries", "Britain")

	ctx := harness.Context(t, time.Minute)
	ch, key := createChannel(t, c, "restricted", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	if _, err := c.UpdateChannel(ctx, &ivs.UpdateChannelInput{Arn: ch.Arn, PlaybackRestrictionPolicyArn: aws.String(created.Policy.Arn)}); err != nil {
		t.Fatal(err)
	}
	harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "320x240"})
	waitLive(t, c, aws.ToString(ch.Arn))
	playbackURL := aws.ToString(ch.PlaybackUrl)

	good := http.Header{"Origin": {"https://www.example.com"}}
	harness.Eventually(t, 20*time.Second, func() error {
		if st := status(t, playbackURL, good); st != http.StatusOK {
			return fmt.Errorf("listed origin: status %d", st)
		}
		return nil
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, playbackURL, nil)
	req.Header.Set("Origin", "https://www.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://www.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	if st := status(t, playbackURL, http.Header{"Origin": {"https://evil.test"}}); st != http.StatusForbidden {
		t.Errorf("unlisted origin: %d, want 403", st)
	}
	if st := status(t, playbackURL, nil); st != http.StatusForbidden {
		t.Errorf("no Origin with strict enforcement: %d, want 403", st)
	}
	cli.fail("ConflictException", "used by channel", "ivs", "delete-playback-restriction-policy", "--arn", created.Policy.Arn)
}
