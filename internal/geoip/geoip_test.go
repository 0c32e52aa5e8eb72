package geoip

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteTestDB writes a MaxMind-format database placing each prefix in a
// country, as GeoLite2-Country does ({"country":{"iso_code":…}}).
func writeTestDB(t *testing.T, countries map[string]string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IPVersion: 6})
	if err != nil {
		t.Fatal(err)
	}
	for prefix, code := range countries {
		_, n, err := net.ParseCIDR(prefix)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(code)}}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "countries.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCountry(t *testing.T) {
	t.Parallel()
	db, err := Open(writeTestDB(t, map[string]string{"81.2.69.0/24": "GB", "2a02:6b8::/32": "SE"}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for addr, want := range map[string]string{
		"81.2.69.160":        "GB",
		"::ffff:81.2.69.160": "GB",
		"2a02:6b8::1":        "SE",
		"192.0.2.1":          "",
		"127.0.0.1":          "",
	} {
		got, ok := db.Country(netip.MustParseAddr(addr))
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", addr, got, ok, want)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing file opened")
	}
}
