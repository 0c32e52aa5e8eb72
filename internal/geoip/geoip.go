// Package geoip tells the country of an IP address from a database in
// MaxMind's format (GeoLite2-Country or -City, GeoIP2, DB-IP's lite
// databases), for playback restriction policies' allowedCountries.
package geoip

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open database. It is safe for concurrent use.
type DB struct {
	r *maxminddb.Reader
}

// Open opens the database at path.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// Close releases the database.
func (d *DB) Close() error { return d.r.Close() }

// Country returns the ISO 3166-1 alpha-2 code of the country addr is in,
// and false if the database does not place it (private addresses, gaps).
func (d *DB) Country(addr netip.Addr) (string, bool) {
	var code string
	if err := d.r.Lookup(addr.Unmap()).DecodePath(&code, "country", "iso_code"); err != nil || code == "" {
		return "", false
	}
	return code, true
}
