package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/sqlite"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() {
	suites["Resources"] = func(t *testing.T, pg *harness.Postgres) {
		t.Run("ConcurrentCreateAccount", func(t *testing.T) { t.Parallel(); testConcurrentCreateAccount(t, pg) })
		t.Run("ConcurrentStreamKeyValue", func(t *testing.T) { t.Parallel(); testConcurrentStreamKeyValue(t, pg) })
		t.Run("PagingWhileWriting", func(t *testing.T) { t.Parallel(); testPagingWhileWriting(t, newStore(t, pg)) })
		t.Run("SameAsSQLite", func(t *testing.T) { t.Parallel(); testSameAsSQLite(t, newStore(t, pg)) })
	}
}

func testChannel(id string) ivs.Channel {
	return ivs.Channel{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + id, Name: "n",
		Type: ivs.TypeBasic, LatencyMode: ivs.LatencyLow, Tags: map[string]string{},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	}
}

func testKey(id, channelID, value string) ivs.StreamKey {
	return ivs.StreamKey{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:stream-key/" + id, ChannelID: channelID,
		Value: ivs.Secret(value), Tags: map[string]string{}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// together runs f(0) … f(n-1) in goroutines released at once, so that their
// transactions overlap, and returns their errors.
func together(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// Processes that start at once on one empty database, each with its own
// pool, agree on one account: the first insert's.
func testConcurrentCreateAccount(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	url := newDatabase(t, pg)
	const n = 6
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openStore(t, url)
	}
	got := make([]ivs.Account, n)
	created := make([]bool, n)
	errs := together(n, func(i int) error {
		a := ivs.Account{ID: fmt.Sprintf("%012d", i), AccessKeyID: "AKIA" + strconv.Itoa(i), SecretAccessKey: ivs.Secret("s" + strconv.Itoa(i))}
		var err error
		got[i], created[i], err = stores[i].CreateAccount(ctx, a)
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	winner := slices.Index(created, true)
	if winner < 0 || slices.Index(created[winner+1:], true) >= 0 {
		t.Fatalf("created = %v, want exactly one true", created)
	}
	for i, a := range got {
		if a != got[winner] {
			t.Errorf("process %d got account %+v, process %d created %+v", i, a, winner, got[winner])
		}
	}
	if a, err := stores[0].Account(ctx); err != nil || a != got[winner] {
		t.Fatalf("stored account = %+v, %v; want %+v", a, err, got[winner])
	}
}

// Keys with one value created at once: one is stored, the others get
// ErrConflict (what the SQLite store returns), and a channel created with
// a losing key is not stored either.
func testConcurrentStreamKeyValue(t *testing.T, pg *harness.Postgres) {
	const n = 8
	for _, tc := range []struct {
		name   string
		create func(ctx context.Context, s *Store, i int) error
	}{
		{"CreateChannel", func(ctx context.Context, s *Store, i int) error {
			k := testKey(fmt.Sprintf("k%d", i), fmt.Sprintf("ch%d", i), "sk_us-east-1_same")
			return s.CreateChannel(ctx, testChannel(k.ChannelID), &k)
		}},
		{"CreateStreamKey", func(ctx context.Context, s *Store, i int) error {
			return s.CreateStreamKey(ctx, testKey(fmt.Sprintf("k%d", i), "ch", "sk_us-east-1_same"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newStore(t, pg)
			if tc.name == "CreateStreamKey" {
				if err := s.CreateChannel(ctx, testChannel("ch"), nil); err != nil {
					t.Fatal(err)
				}
			}
			errs := together(n, func(i int) error { return tc.create(ctx, s, i) })
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner < 0:
					winner = i
				case err == nil:
					t.Fatalf("creates %d and %d both succeeded", winner, i)
				case !errors.Is(err, ivs.ErrConflict):
					t.Fatalf("create %d: %v, want ErrConflict", i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("no create succeeded: %v", errs)
			}
			k, err := s.GetStreamKeyByValue(ctx, "sk_us-east-1_same")
			if err != nil || k.ID != fmt.Sprintf("k%d", winner) {
				t.Fatalf("key by value = %+v, %v; want k%d", k, err, winner)
			}
			cs, err := s.ListChannels(ctx, ivs.ChannelFilter{}, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"ch"}
			if tc.name == "CreateChannel" {
				want = []string{fmt.Sprintf("ch%d", winner)}
			}
			if got := channelIDs(cs); !slices.Equal(got, want) {
				t.Fatalf("channels = %v, want %v", got, want)
			}
		})
	}
}

func channelIDs(cs []ivs.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// Paging through channels while another process creates and deletes
// others never repeats a channel nor skips one that exists throughout.
func testPagingWhileWriting(t *testing.T, s *Store) {
	ctx := context.Background()
	var existing []string
	for i := 0; i < 80; i += 2 {
		id := fmt.Sprintf("c%03d", i)
		existing = append(existing, id)
		if err := s.CreateChannel(ctx, testChannel(id), nil); err != nil {
			t.Fatal(err)
		}
	}
	// The writer cycles through creating and deleting the odd ids until the
	// reader has scanned enough times with the writes in view.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for {
				for _, op := range []func(string) error{
					func(id string) error { return s.CreateChannel(ctx, testChannel(id), nil) },
					func(id string) error { return s.DeleteChannel(ctx, id) },
				} {
					for i := 1; i < 80; i += 2 {
						select {
						case <-stop:
							return nil
						default:
						}
						if err := op(fmt.Sprintf("c%03d", i)); err != nil {
							return err
						}
					}
				}
			}
		}()
	}()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("writer: %v", err)
		}
	}()
	deadline := time.Now().Add(time.Minute)
	scans, sawOthers := 0, 0
	for ; scans < 20 || sawOthers == 0; scans++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d scans in a minute saw none of the writer's channels", scans)
		}
		select {
		case err := <-done:
			done <- err // for the deferred wait
			t.Fatalf("writer stopped: %v", err)
		default:
		}
		var seen []string
		after := ""
		for {
			page, err := s.ListChannels(ctx, ivs.ChannelFilter{}, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, channelIDs(page)...)
			if len(page) < 7 {
				break
			}
			after = page[len(page)-1].ID
		}
		if !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen) {
			t.Fatalf("scan %d repeats or is out of order: %v", scans, seen)
		}
		var kept []string
		for _, id := range seen {
			if n, _ := strconv.Atoi(id[1:]); n%2 == 0 {
				kept = append(kept, id)
			} else {
				sawOthers++
			}
		}
		if !slices.Equal(kept, existing) {
			t.Fatalf("scan %d saw existing channels %v, want %v", scans, kept, existing)
		}
	}
	t.Logf("%d scans, %d channels seen being written", scans, sawOthers)
}

// resources is what the differential test drives on both stores.
type resources interface {
	ivs.ChannelStore
	ivs.RecordingConfigurationStore
	ivs.DocStore
}

// Page tokens and look-ups that PostgreSQL's text cannot hold (NUL,
// invalid UTF-8: a page token decodes to any bytes, a stream key comes
// from an encoder) give what the SQLite store gives, not an error.
func testSameAsSQLite(t *testing.T, pg *Store) {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lite.Close() })
	stores := map[string]resources{"postgres": pg, "sqlite": lite}

	ids := []string{"ch0", "ch1", "ch2", "chA", "chz", "ch~", "ch\x7f", "ché", "chÿ", "ch€", "ch😀", "ci"}
	for name, s := range stores {
		for _, id := range append([]string{"owner"}, ids...) {
			if err := s.CreateChannel(ctx, testChannel(id), nil); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		for _, id := range ids {
			if err := s.CreateStreamKey(ctx, testKey(id, "owner", "sk_"+id)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			r := ivs.RecordingConfiguration{ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/" + id,
				State: ivs.RecordingStateActive, Tags: map[string]string{}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			if err := s.CreateRecordingConfiguration(ctx, r); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := s.CreateDoc(ctx, ivs.Doc{Kind: "k", ID: id, Body: []byte(`{}`), CreatedAt: r.CreatedAt}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}

	// What each store answers, as text, for each input.
	bad := []string{"\x00", "ch0\x00", "\xff", "ch\xc3", "ch\xc3\x28", "sk_ch0\x00"}
	afters := append([]string{"", "ch1", "ch~", "ci"}, "ch1\x00", "ch\x00", "ch\x80", "ch\xc3", "ch\xc3\x28",
		"ch\xc3\xa9\x00", "ch\xc3\xbf\xff", "ch\xe2\x82", "ch\xf0\x9f", "ch\xff", "\xff", "c\xc0")
	type probe struct {
		name string
		run  func(s resources, in string) string
	}
	probes := []probe{
		{"ListChannels", func(s resources, in string) string {
			cs, err := s.ListChannels(ctx, ivs.ChannelFilter{}, in, 100)
			return fmt.Sprint(channelIDs(cs), err)
		}},
		{"ListStreamKeys", func(s resources, in string) string {
			ks, err := s.ListStreamKeys(ctx, "owner", in, 100)
			out := []string{}
			for _, k := range ks {
				out = append(out, k.ID)
			}
			return fmt.Sprint(out, err)
		}},
		{"ListRecordingConfigurations", func(s resources, in string) string {
			rs, err := s.ListRecordingConfigurations(ctx, in, 100)
			out := []string{}
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return fmt.Sprint(out, err)
		}},
		{"ListDocs", func(s resources, in string) string {
			ds, err := s.ListDocs(ctx, "k", in, 100)
			out := []string{}
			for _, d := range ds {
				out = append(out, d.ID)
			}
			return fmt.Sprint(out, err)
		}},
	}
	for _, in := range afters {
		for _, p := range probes {
			want := p.run(lite, in)
			if got := p.run(pg, in); got != want {
				t.Errorf("%s after %q: postgres %s, sqlite %s", p.name, in, got, want)
			}
		}
	}

	notFound := func(err error) string {
		if errors.Is(err, ivs.ErrNotFound) {
			return "not found"
		}
		return fmt.Sprint("error: ", err)
	}
	lookups := []probe{
		{"GetChannel", func(s resources, in string) string { _, err := s.GetChannel(ctx, in); return notFound(err) }},
		{"UpdateChannel", func(s resources, in string) string { return notFound(s.UpdateChannel(ctx, testChannel(in))) }},
		{"DeleteChannel", func(s resources, in string) string { return notFound(s.DeleteChannel(ctx, in)) }},
		{"GetStreamKey", func(s resources, in string) string { _, err := s.GetStreamKey(ctx, in); return notFound(err) }},
		{"GetStreamKeyByValue", func(s resources, in string) string {
			_, err := s.GetStreamKeyByValue(ctx, in)
			return notFound(err)
		}},
		{"UpdateStreamKeyTags", func(s resources, in string) string { return notFound(s.UpdateStreamKeyTags(ctx, in, nil)) }},
		{"DeleteStreamKey", func(s resources, in string) string { return notFound(s.DeleteStreamKey(ctx, in)) }},
		{"GetRecordingConfiguration", func(s resources, in string) string {
			_, err := s.GetRecordingConfiguration(ctx, in)
			return notFound(err)
		}},
		{"SetRecordingConfigurationState", func(s resources, in string) string {
			return notFound(s.SetRecordingConfigurationState(ctx, in, ivs.RecordingStateActive))
		}},
		{"UpdateRecordingConfigurationTags", func(s resources, in string) string {
			return notFound(s.UpdateRecordingConfigurationTags(ctx, in, nil))
		}},
		{"DeleteRecordingConfiguration", func(s resources, in string) string {
			return notFound(s.DeleteRecordingConfiguration(ctx, in))
		}},
		{"GetDoc id", func(s resources, in string) string { _, err := s.GetDoc(ctx, "k", in); return notFound(err) }},
		{"GetDoc kind", func(s resources, in string) string { _, err := s.GetDoc(ctx, in, "ch0"); return notFound(err) }},
		{"UpdateDoc", func(s resources, in string) string {
			return notFound(s.UpdateDoc(ctx, ivs.Doc{Kind: "k", ID: in, Body: []byte(`{}`)}))
		}},
		{"DeleteDoc", func(s resources, in string) string { return notFound(s.DeleteDoc(ctx, in, "ch0")) }},
		{"ListChannels by name", func(s resources, in string) string {
			cs, err := s.ListChannels(ctx, ivs.ChannelFilter{Name: in}, "", 100)
			return fmt.Sprint(len(cs), err)
		}},
		{"ListStreamKeys of channel", func(s resources, in string) string {
			ks, err := s.ListStreamKeys(ctx, in, "", 100)
			return fmt.Sprint(len(ks), err)
		}},
		{"ListDocs of kind", func(s resources, in string) string {
			ds, err := s.ListDocs(ctx, in, "", 100)
			return fmt.Sprint(len(ds), err)
		}},
		{"CountDocs", func(s resources, in string) string { n, err := s.CountDocs(ctx, in); return fmt.Sprint(n, err) }},
	}
	for _, in := range bad {
		for _, p := range lookups {
			want := p.run(lite, in)
			if got := p.run(pg, in); got != want {
				t.Errorf("%s(%q): postgres %s, sqlite %s", p.name, in, got, want)
			}
		}
	}

	// Writes that break a constraint fail alike: a taken key value, key id
	// or document id is ErrConflict; a taken channel or configuration id,
	// or a key of no channel, is another error.
	kind := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, ivs.ErrConflict):
			return "conflict"
		case errors.Is(err, ivs.ErrNotFound):
			return "not found"
		}
		return "error"
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	writes := []struct {
		name string
		run  func(s resources) error
	}{
		{"CreateChannel with a taken id", func(s resources) error { return s.CreateChannel(ctx, testChannel("ch0"), nil) }},
		{"CreateChannel with a taken key value", func(s resources) error {
			k := testKey("new", "new", "sk_ch0")
			return s.CreateChannel(ctx, testChannel("new"), &k)
		}},
		{"CreateChannel with a taken key id", func(s resources) error {
			k := testKey("ch0", "new", "sk_new")
			return s.CreateChannel(ctx, testChannel("new"), &k)
		}},
		{"CreateStreamKey with a taken value", func(s resources) error { return s.CreateStreamKey(ctx, testKey("new", "owner", "sk_ch1")) }},
		{"CreateStreamKey with a taken id", func(s resources) error { return s.CreateStreamKey(ctx, testKey("ch1", "owner", "sk_new")) }},
		{"CreateStreamKey of no channel", func(s resources) error { return s.CreateStreamKey(ctx, testKey("new", "none", "sk_new")) }},
		{"CreateRecordingConfiguration with a taken id", func(s resources) error {
			return s.CreateRecordingConfiguration(ctx, ivs.RecordingConfiguration{ID: "ch0", State: ivs.RecordingStateActive, CreatedAt: at})
		}},
		{"CreateDoc with a taken id", func(s resources) error {
			return s.CreateDoc(ctx, ivs.Doc{Kind: "k", ID: "ch0", Body: []byte(`{}`), CreatedAt: at})
		}},
		{"CreateDoc of another kind", func(s resources) error {
			return s.CreateDoc(ctx, ivs.Doc{Kind: "other", ID: "ch0", Body: []byte(`{}`), CreatedAt: at})
		}},
	}
	for _, w := range writes {
		want := kind(w.run(lite))
		if got := kind(w.run(pg)); got != want {
			t.Errorf("%s: postgres %s, sqlite %s", w.name, got, want)
		}
	}
	// The failed writes left nothing behind: the channel of a losing key
	// is not stored.
	for name, s := range stores {
		if _, err := s.GetChannel(ctx, "new"); !errors.Is(err, ivs.ErrNotFound) {
			t.Errorf("%s: channel of a refused key: %v", name, err)
		}
	}
}

// BenchmarkGetChannel is the look-up behind GetStream, playback and
// ingest; pgx prepares its statement once per connection (the SQLite
// store prepares it by hand). One server for every b.N.
func BenchmarkGetChannel(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, harness.StartPostgres(b).CreateDatabase("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateChannel(ctx, testChannel("ch0"), nil); err != nil {
		b.Fatal(err)
	}
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetChannel(ctx, "ch0"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
