package rowcodec

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// row is a Scanner over fixed values, as a driver converts them.
type row []any

func (r row) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return errors.New("wrong column count")
	}
	for i, d := range dest {
		v := reflect.ValueOf(d).Elem()
		if r[i] == nil {
			v.SetZero()
			continue
		}
		src := reflect.ValueOf(r[i])
		if v.Kind() == reflect.Pointer { // a nullable column
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(src.Convert(v.Type().Elem()))
			v.Set(p)
			continue
		}
		v.Set(src.Convert(v.Type()))
	}
	return nil
}

// Times sort as text in time order, whatever their zone and fraction, and
// read back equal.
func TestTimeText(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	times := []time.Time{
		base,
		base.Add(500 * time.Millisecond),
		base.Add(time.Nanosecond),
		base.Add(time.Second).In(time.FixedZone("x", 3600)),
		base.Add(-time.Hour),
	}
	texts := make([]string, len(times))
	for i, tm := range times {
		texts[i] = FormatTime(tm)
		back, err := ParseTime(texts[i])
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%v → %q → %v, %v", tm, texts[i], back, err)
		}
	}
	byText := append([]string(nil), texts...)
	sort.Strings(byText)
	byTime := append([]time.Time(nil), times...)
	sort.Slice(byTime, func(i, j int) bool { return byTime[i].Before(byTime[j]) })
	for i := range byTime {
		if byText[i] != FormatTime(byTime[i]) {
			t.Fatalf("text order %q, time order %v", byText, byTime)
		}
	}
}

func TestDecoders(t *testing.T) {
	t.Parallel()
	created := "2026-01-02T03:04:05.000000000Z"
	for _, tc := range []struct {
		name    string
		decode  func(Scanner) (any, error)
		row     row
		want    any
		wantErr string
	}{
		{"channel", func(r Scanner) (any, error) { return Channel(r) },
			row{"ch1", `{"name":"n"}`, created},
			ivs.Channel{ID: "ch1", Name: "n", Tags: map[string]string{}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, ""},
		{"channel bad doc", func(r Scanner) (any, error) { return Channel(r) },
			row{"ch1", `{`, created}, nil, "decode channel ch1: "},
		{"channel bad time", func(r Scanner) (any, error) { return Channel(r) },
			row{"ch1", `{}`, "yesterday"}, nil, "decode channel ch1: "},
		{"open stage session", func(r Scanner) (any, error) {
			ss, err := StageSession(r)
			return ss.EndTime == nil, err
		}, row{"st", "se", created, nil}, true, ""},
		{"ended stream session", func(r Scanner) (any, error) {
			ss, err := StreamSession(r)
			return ss.EndTime.Sub(ss.StartTime), err
		}, row{"s1", "ch1", `{}`, created, "2026-01-02T03:05:05.000000000Z", `{}`, `{}`, true}, time.Minute, ""},
		{"event", func(r Scanner) (any, error) {
			e, err := Event(r)
			return e.Seq, err
		}, row{int64(7), "ch1", "s1", []byte(`{}`)}, int64(7), ""},
		{"event bad body", func(r Scanner) (any, error) { return Event(r) },
			row{int64(7), "ch1", "s1", []byte(`[`)}, nil, "decode event 7: "},
		{"metric point", func(r Scanner) (any, error) { return MetricPoint(r) },
			row{int64(60), 2, int64(3), 4.5, int64(6), 7.5, int64(8)},
			ivs.MetricPoint{Time: time.Unix(60, 0).UTC(), Span: 2, VideoBitrate: 3, Framerate: 4.5, AudioBitrate: 6, KeyframeInterval: 7.5, Viewers: 8}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.decode(tc.row)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q…", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// A session counts only within the period; a live one until now; channels
// come out in the order first added.
func TestUsage(t *testing.T) {
	t.Parallel()
	at := func(m int) time.Time { return time.Date(2026, 1, 1, 0, m, 0, 0, time.UTC) }
	text := func(m int) *string { s := FormatTime(at(m)); return &s }
	u := NewUsage(at(10), at(20), at(15))
	for _, s := range []struct {
		ch       string
		from, to int
		live     bool
	}{
		{"b", 5, 12, false},  // 2 min inside
		{"a", 18, 30, false}, // 2 min inside
		{"b", 14, 0, true},   // live until now: 1 min
		{"a", 20, 25, false}, // outside
	} {
		end := text(s.to)
		if s.live {
			end = nil
		}
		if err := u.AddSession(s.ch, *text(s.from), end); err != nil {
			t.Fatal(err)
		}
	}
	u.AddViewerSeconds("c", 42)
	got := u.Channels()
	want := []ivs.ChannelUsage{{ChannelID: "b", InputSeconds: 180}, {ChannelID: "a", InputSeconds: 120}, {ChannelID: "c", ViewerSeconds: 42}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("usage %+v, want %+v", got, want)
	}
	if err := u.AddSession("a", "soon", nil); err == nil {
		t.Fatal("a bad start time was added")
	}
}
