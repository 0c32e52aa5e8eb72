package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
)

func publicPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func p384PEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return publicPEM(t, &k.PublicKey)
}

// Playback key pairs through the SDK: import (validated, fingerprinted,
// unique, within the quota), get, list, tag, delete.
func TestPlaybackKeyPairs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	material := p384PEM(t)
	out, err := e.client.ImportPlaybackKeyPair(ctx, &sdk.ImportPlaybackKeyPairInput{
		PublicKeyMaterial: aws.String(material), Name: aws.String("main"), Tags: map[string]string{"team": "video"}})
	if err != nil {
		t.Fatal(err)
	}
	kp := out.KeyPair
	if !regexp.MustCompile(`^arn:aws:ivs:us-west-2:\d{12}:playback-key/[a-zA-Z0-9]{12}$`).MatchString(aws.ToString(kp.Arn)) ||
		aws.ToString(kp.Name) != "main" || kp.Tags["team"] != "video" ||
		!regexp.MustCompile(`^([0-9a-f]{2}:){15}[0-9a-f]{2}$`).MatchString(aws.ToString(kp.Fingerprint)) {
		t.Fatalf("imported %+v", kp)
	}
	got, err := e.client.GetPlaybackKeyPair(ctx, &sdk.GetPlaybackKeyPairInput{Arn: kp.Arn})
	if err != nil || aws.ToString(got.KeyPair.Fingerprint) != aws.ToString(kp.Fingerprint) {
		t.Fatalf("get: %+v %v", got, err)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		material, name string
		conflict       bool
		msg            string
	}{
		"empty":    {material: "", msg: "publicKeyMaterial"},
		"not PEM":  {material: "hello", msg: "publicKeyMaterial"},
		"RSA":      {material: publicPEM(t, &rsaKey.PublicKey), msg: "P-384"},
		"P-256":    {material: publicPEM(t, &p256.PublicKey), msg: "P-384"},
		"bad name": {material: p384PEM(t), name: "no spaces", msg: "name"},
		"same key": {material: material, conflict: true, msg: "already imported"},
	} {
		in := &sdk.ImportPlaybackKeyPairInput{PublicKeyMaterial: aws.String(tc.material)}
		if tc.name != "" {
			in.Name = aws.String(tc.name)
		}
		_, err := e.client.ImportPlaybackKeyPair(ctx, in)
		t.Run(name, func(t *testing.T) {
			t.Parallel() // judges the error in hand
			if tc.conflict {
				wantCode[*types.ConflictException](t, err, tc.msg)
			} else {
				wantCode[*types.ValidationException](t, err, tc.msg)
			}
		})
	}
	for range 2 {
		if _, err := e.client.ImportPlaybackKeyPair(ctx, &sdk.ImportPlaybackKeyPairInput{PublicKeyMaterial: aws.String(p384PEM(t))}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.client.ImportPlaybackKeyPair(ctx, &sdk.ImportPlaybackKeyPairInput{PublicKeyMaterial: aws.String(p384PEM(t))})
	var quota *types.ServiceQuotaExceededException
	if !errors.As(err, &quota) {
		t.Fatalf("fourth key pair: %v", err)
	}

	var arns []string
	pager := sdk.NewListPlaybackKeyPairsPaginator(e.client, &sdk.ListPlaybackKeyPairsInput{MaxResults: aws.Int32(2)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.KeyPairs {
			arns = append(arns, aws.ToString(k.Arn))
		}
	}
	if len(arns) != 3 {
		t.Fatalf("listed %d key pairs", len(arns))
	}

	if _, err := e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: kp.Arn, Tags: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: kp.Arn})
	if err != nil || tags.Tags["env"] != "prod" || tags.Tags["team"] != "video" {
		t.Fatalf("tags: %v %v", tags, err)
	}

	if _, err := e.client.DeletePlaybackKeyPair(ctx, &sdk.DeletePlaybackKeyPairInput{Arn: kp.Arn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetPlaybackKeyPair(ctx, &sdk.GetPlaybackKeyPairInput{Arn: kp.Arn})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("get after delete: %v", err)
	}
	_, err = e.client.DeletePlaybackKeyPair(ctx, &sdk.DeletePlaybackKeyPairInput{Arn: kp.Arn})
	if !errors.As(err, &rnf) {
		t.Fatalf("delete twice: %v", err)
	}
	_, err = e.client.GetPlaybackKeyPair(ctx, &sdk.GetPlaybackKeyPairInput{Arn: aws.String("arn:aws:ivs:us-west-2:123:channel/abc")})
	wantCode[*types.ValidationException](t, err, "arn")
}

// Viewer-session revocation through the SDK, single and batched.
func TestViewerSessionRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, _ := e.createChannel("private")
	if _, err := e.client.StartViewerSessionRevocation(ctx, &sdk.StartViewerSessionRevocationInput{
		ChannelArn: ch.Arn, ViewerId: aws.String("amy"), ViewerSessionVersionsLessThanOrEqualTo: 2}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    int64
		want bool
	}{{0, true}, {2, true}, {3, false}} {
		if got, _ := e.svc.ViewerRevoked(ctx, aws.ToString(ch.Arn)[strings.LastIndexByte(aws.ToString(ch.Arn), '/')+1:], "amy", tc.v); got != tc.want {
			t.Errorf("version %d revoked = %v", tc.v, got)
		}
	}
	_, err := e.client.StartViewerSessionRevocation(ctx, &sdk.StartViewerSessionRevocationInput{ChannelArn: ch.Arn, ViewerId: aws.String(strings.Repeat("x", 41))})
	wantCode[*types.ValidationException](t, err, "viewerId")
	missing := strings.Replace(aws.ToString(ch.Arn), "channel/", "channel/x", 1)[:len(aws.ToString(ch.Arn))]
	out, err := e.client.BatchStartViewerSessionRevocation(ctx, &sdk.BatchStartViewerSessionRevocationInput{
		ViewerSessions: []types.BatchStartViewerSessionRevocationViewerSession{
			{ChannelArn: ch.Arn, ViewerId: aws.String("bob")},
			{ChannelArn: aws.String(missing), ViewerId: aws.String("bob")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "ResourceNotFoundException" || aws.ToString(out.Errors[0].ChannelArn) != missing {
		t.Fatalf("batch errors %+v", out.Errors)
	}
	many := make([]types.BatchStartViewerSessionRevocationViewerSession, 21)
	for i := range many {
		many[i] = types.BatchStartViewerSessionRevocationViewerSession{ChannelArn: ch.Arn, ViewerId: aws.String("v")}
	}
	_, err = e.client.BatchStartViewerSessionRevocation(ctx, &sdk.BatchStartViewerSessionRevocationInput{ViewerSessions: many})
	wantCode[*types.ValidationException](t, err, "viewerSessions")
}

// PutMetadata through the SDK: into a live LOW latency stream; validated;
// ChannelNotBroadcasting offline; 5 calls a second per channel.
func TestPutMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ch, key := e.createChannel("meta")
	_, err := e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: ch.Arn, Metadata: aws.String("x")})
	wantCode[*types.ChannelNotBroadcasting](t, err)
	e.goLive(aws.ToString(key.Value))
	if _, err := e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: ch.Arn, Metadata: aws.String(`{"q":1}`)}); err != nil {
		t.Fatal(err)
	}
	if got := <-e.metadata; got != `{"q":1}` {
		t.Fatalf("stream got %q", got)
	}
	_, err = e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: ch.Arn, Metadata: aws.String(strings.Repeat("x", 1025))})
	wantCode[*types.ValidationException](t, err, "metadata")
	_, err = e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: ch.Arn, Metadata: aws.String("")})
	wantCode[*types.ValidationException](t, err, "metadata")
	throttled := 0
	for range 8 {
		_, err := e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: ch.Arn, Metadata: aws.String("burst")})
		var th *types.ThrottlingException
		if errors.As(err, &th) {
			throttled++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if throttled < 3 {
		t.Fatalf("%d of 8 calls after one were throttled, want at least 3", throttled)
	}

	// NORMAL channels carry it in MPEG-TS, not in fMP4 HLS.
	normal, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{LatencyMode: types.ChannelLatencyModeNormalLatency})
	if err != nil {
		t.Fatal(err)
	}
	e.goLive(aws.ToString(normal.StreamKey.Value))
	if _, err = e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: normal.Channel.Arn, Metadata: aws.String("in TS")}); err != nil {
		t.Fatalf("PutMetadata on a NORMAL (MPEG-TS) channel: %v", err)
	}
	for got := ""; got != "in TS"; { // after the bursts' above
		select {
		case got = <-e.metadata:
		case <-time.After(5 * time.Second):
			t.Fatal("the NORMAL channel's metadata did not arrive")
		}
	}
	fmp4, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{LatencyMode: types.ChannelLatencyModeNormalLatency,
		ContainerFormat: types.ContainerFormatFragmentedMP4})
	if err != nil {
		t.Fatal(err)
	}
	e.goLive(aws.ToString(fmp4.StreamKey.Value))
	_, err = e.client.PutMetadata(ctx, &sdk.PutMetadataInput{ChannelArn: fmp4.Channel.Arn, Metadata: aws.String("x")})
	wantCode[*types.ValidationException](t, err, "FRAGMENTED_MP4")
}

// Playback restriction policies through the SDK: create with defaults,
// validate, update only what is given, tag, attach to a channel, refuse to
// delete one in use.
func TestPlaybackRestrictionPolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.client.CreatePlaybackRestrictionPolicy(ctx, &sdk.CreatePlaybackRestrictionPolicyInput{
		Name: aws.String("eu"), AllowedCountries: []string{"GB", "SE"}, AllowedOrigins: []string{"https://www.example.com"},
		Tags: map[string]string{"team": "video"}})
	if err != nil {
		t.Fatal(err)
	}
	p := out.PlaybackRestrictionPolicy
	if !strings.Contains(aws.ToString(p.Arn), ":playback-restriction-policy/") || aws.ToString(p.Name) != "eu" ||
		len(p.AllowedCountries) != 2 || len(p.AllowedOrigins) != 1 || aws.ToBool(p.EnableStrictOriginEnforcement) || p.Tags["team"] != "video" {
		t.Fatalf("created %+v", p)
	}
	bare, err := e.client.CreatePlaybackRestrictionPolicy(ctx, &sdk.CreatePlaybackRestrictionPolicyInput{})
	if err != nil || bare.PlaybackRestrictionPolicy.AllowedCountries == nil || len(bare.PlaybackRestrictionPolicy.AllowedOrigins) != 0 {
		t.Fatalf("defaults: %+v %v", bare, err)
	}
	for name, in := range map[string]*sdk.CreatePlaybackRestrictionPolicyInput{
		"allowedCountries": {AllowedCountries: []string{"gb"}},
		"allowedOrigins":   {AllowedOrigins: []string{"not an origin"}},
		"name":             {Name: aws.String("no spaces")},
	} {
		_, err := e.client.CreatePlaybackRestrictionPolicy(ctx, in)
		t.Run(name, func(t *testing.T) {
			t.Parallel() // judges the error in hand
			wantCode[*types.ValidationException](t, err, name)
		})
	}

	up, err := e.client.UpdatePlaybackRestrictionPolicy(ctx, &sdk.UpdatePlaybackRestrictionPolicyInput{Arn: p.Arn,
		EnableStrictOriginEnforcement: aws.Bool(true), AllowedCountries: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.PlaybackRestrictionPolicy; !aws.ToBool(got.EnableStrictOriginEnforcement) || len(got.AllowedCountries) != 0 ||
		len(got.AllowedOrigins) != 1 || aws.ToString(got.Name) != "eu" {
		t.Fatalf("updated %+v", got)
	}
	list, err := e.client.ListPlaybackRestrictionPolicies(ctx, &sdk.ListPlaybackRestrictionPoliciesInput{})
	if err != nil || len(list.PlaybackRestrictionPolicies) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}

	ch, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{PlaybackRestrictionPolicyArn: p.Arn})
	if err != nil || aws.ToString(ch.Channel.PlaybackRestrictionPolicyArn) != aws.ToString(p.Arn) {
		t.Fatalf("channel with the policy: %+v %v", ch, err)
	}
	filtered, err := e.client.ListChannels(ctx, &sdk.ListChannelsInput{FilterByPlaybackRestrictionPolicyArn: p.Arn})
	if err != nil || len(filtered.Channels) != 1 {
		t.Fatalf("filter by policy: %+v %v", filtered, err)
	}
	_, err = e.client.DeletePlaybackRestrictionPolicy(ctx, &sdk.DeletePlaybackRestrictionPolicyInput{Arn: p.Arn})
	wantCode[*types.ConflictException](t, err, "used by channel")
	missing := strings.Replace(aws.ToString(p.Arn), "/", "/x", 1)[:len(aws.ToString(p.Arn))]
	_, err = e.client.CreateChannel(ctx, &sdk.CreateChannelInput{PlaybackRestrictionPolicyArn: aws.String(missing)})
	wantCode[*types.ResourceNotFoundException](t, err)

	if _, err := e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{Arn: ch.Channel.Arn, PlaybackRestrictionPolicyArn: aws.String("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeletePlaybackRestrictionPolicy(ctx, &sdk.DeletePlaybackRestrictionPolicyInput{Arn: p.Arn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetPlaybackRestrictionPolicy(ctx, &sdk.GetPlaybackRestrictionPolicyInput{Arn: p.Arn})
	wantCode[*types.ResourceNotFoundException](t, err)
}
