package e2e

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/smithy-go"

	"github.com/onair-video/onair/test/e2e/harness"
)

// The harness's private PostgreSQL (the store and cluster tests' server):
// initdb into a temp dir, a free port, a database per test, data kept
// across a stop and start on the same port, stopped by its PID.
func TestPostgresHarness(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	pg.CreateDatabase("t_harness")
	if _, err := pg.Query("t_harness", "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('a', '1')"); err != nil {
		t.Fatal(err)
	}
	pid := pg.PID()
	pg.Stop()
	if _, err := pg.Query("t_harness", "SELECT 1"); err == nil {
		t.Fatal("a query reached a stopped server")
	}
	if harness.ProcessAlive(pid) {
		t.Fatalf("postgres (pid %d) outlived Stop", pid)
	}
	pg.Start()
	if got, err := pg.Query("t_harness", "SELECT v FROM kv WHERE k = 'a'"); err != nil || got != "1" {
		t.Fatalf("after a restart: %q %v", got, err)
	}
	if v, err := pg.Query("postgres", "SHOW fsync"); err != nil || v != "off" {
		t.Fatalf("fsync %q %v", v, err)
	}
}

// onPostgres starts onair on a private PostgreSQL of its own (not the
// shared one of ONAIR_TEST_STORE: the test stops it).
func onPostgres(t *testing.T) (*harness.Server, *harness.Postgres) {
	t.Helper()
	pg := harness.StartPostgres(t)
	url := pg.CreateDatabase("onair")
	return harness.Start(t, harness.Options{Args: []string{"--store", "postgres", "--postgres-url", url}}), pg
}

// PostgreSQL stops for 10 s under a live LOW channel with a player: the
// stream keeps playing, API calls answer InternalServerException (which
// the SDK decodes), and everything recovers by itself when the database is
// back: the same publisher, the same session, its metrics written again.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	s, pg := onPostgres(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "outage", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value))})
	live := waitLive(t, c, aws.ToString(ch.Arn))
	playback := aws.ToString(ch.PlaybackUrl)
	mv, _ := waitMultivariant(t, playback)
	mediaURL := harness.Resolve(playback, mv.Variants[0].URI)
	ctx := harness.Context(t, 2*time.Minute)
	// lastPart is the media playlist's newest part, as segment*100+part.
	lastPart := func() (int, error) {
		m, _, err := harness.FetchMedia(ctx, mediaURL)
		if err != nil {
			return 0, err
		}
		return (m.MediaSequence+len(m.Segments))*100 + len(m.Parts), nil
	}
	before, err := lastPart()
	if err != nil {
		t.Fatal(err)
	}

	pg.Stop()
	down := time.Now()
	// The API fails with the error the SDK knows, and names no secret.
	harness.Eventually(t, 20*time.Second, func() error {
		_, err := c.ListChannels(ctx, &ivs.ListChannelsInput{})
		// ListChannels' model lists no InternalServerException, so the SDK
		// decodes it as a generic API error with that code.
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InternalServerException" {
			return fmt.Errorf("ListChannels with the database down: %w, want InternalServerException", err)
		}
		return nil
	})
	// The player keeps getting new parts while the database is down.
	played := 0
	for time.Since(down) < 10*time.Second {
		p, err := lastPart()
		if err != nil {
			t.Fatalf("playback with the database down, after %v: %v", time.Since(down).Round(time.Millisecond), err)
		}
		if p > before {
			played++
			before = p
		}
		time.Sleep(200 * time.Millisecond)
	}
	if played < 5 {
		t.Fatalf("the playlist grew %d times in 10 s with the database down", played)
	}
	select {
	case <-pub.Done():
		t.Fatalf("the publisher was cut while the database was down: %v\n%s", pub.Err(), pub.Output())
	default:
	}

	pg.Start()
	up := time.Now()
	harness.Eventually(t, 30*time.Second, func() error {
		_, err := c.ListChannels(ctx, &ivs.ListChannelsInput{})
		return err
	})
	t.Logf("database down %v; API back %v after its restart", up.Sub(down).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	st, err := c.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
	if err != nil || aws.ToString(st.Stream.StreamId) != aws.ToString(live.StreamId) || st.Stream.State != types.StreamStateStreamLive {
		t.Fatalf("GetStream after the outage: %+v, %v; want the same live stream %s", st, err, aws.ToString(live.StreamId))
	}
	// The session's metrics are written again: a point from after the
	// restart shows up.
	harness.Eventually(t, 30*time.Second, func() error {
		var m sessionMetrics
		if err := s.GetJSON(ctx, "/v1/channels/"+idOf(ch)+"/sessions/latest/metrics", &m); err != nil {
			return err
		}
		if n := len(m.Points); n == 0 || !m.Points[n-1].Time.After(up) {
			return fmt.Errorf("%d points, none after the restart", n)
		}
		// The seconds of the outage waited in memory and were written too.
		during := 0
		for _, p := range m.Points {
			if p.Time.After(down.Add(time.Second)) && p.Time.Before(up.Add(-time.Second)) {
				during++
			}
		}
		if want := int(up.Sub(down).Seconds()) - 4; during < want {
			return fmt.Errorf("%d points of the %v outage, want at least %d", during, up.Sub(down).Round(time.Second), want)
		}
		return nil
	})
}

// Three onair processes start at the same moment on one empty database:
// the schema is migrated once, they agree on one account (each writes the
// same key pair into its credentials file), and what one creates the
// others read through the API.
func TestPostgresSharedStart(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	url := pg.CreateDatabase("shared")
	servers := make([]*harness.Server, 3)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() {
			servers[i] = harness.Start(t, harness.Options{Args: []string{"--store", "postgres", "--postgres-url", url}})
		})
	}
	wg.Wait()
	for _, s := range servers {
		if s == nil {
			t.FailNow() // Start said why
		}
	}
	if n, err := pg.Query("shared", "SELECT count(*) FROM schema_migrations WHERE version = 1"); err != nil || n != "1" {
		t.Fatalf("schema_migrations: %q %v", n, err)
	}
	for _, s := range servers[1:] {
		if s.AccessKeyID != servers[0].AccessKeyID || s.SecretAccessKey != servers[0].SecretAccessKey {
			t.Fatalf("two processes on one database have different admin keys: %s and %s", servers[0].AccessKeyID, s.AccessKeyID)
		}
	}
	ctx := harness.Context(t, time.Minute)
	ch, _ := createChannel(t, servers[0].IVS(), "shared", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	for _, s := range servers[1:] {
		got, err := s.IVS().GetChannel(ctx, &ivs.GetChannelInput{Arn: ch.Arn})
		if err != nil || aws.ToString(got.Channel.Name) != "shared" {
			t.Fatalf("GetChannel on another process: %+v, %v", got, err)
		}
	}
}
