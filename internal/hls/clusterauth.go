package hls

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The internal route (origin.go) answers only other nodes of the cluster:
// each request carries an HMAC-SHA256, under the cluster's shared secret,
// of its method, path, query and an expiry, in one header:
//
//	X-Onair-Cluster-Auth: v1.{expiry, Unix seconds}.{hex MAC}
//
// The expiry makes a captured header useless after a minute; a MAC whose
// expiry lies further ahead than clusterAuthMaxAhead is refused too, so
// that no one can mint (or keep) a long-lived one from a leaked request.
const (
	clusterAuthHeader   = "X-Onair-Cluster-Auth"
	clusterAuthVersion  = "v1"
	clusterAuthLifetime = time.Minute
	// clusterAuthMaxAhead bounds an expiry's distance into the future: a
	// lifetime plus the clock skew tolerated between nodes.
	clusterAuthMaxAhead = clusterAuthLifetime + time.Minute
	// clusterAuthMaxLen bounds what the parser looks at.
	clusterAuthMaxLen = 128
)

var (
	errAuthMissing   = errors.New("hls: no cluster authentication")
	errAuthMalformed = errors.New("hls: malformed cluster authentication")
	errAuthExpired   = errors.New("hls: cluster authentication expired")
	errAuthAhead     = errors.New("hls: cluster authentication expires too far ahead")
	errAuthMismatch  = errors.New("hls: cluster authentication does not match")
	errAuthNoSecret  = errors.New("hls: no cluster secret configured")
)

// clusterMAC is the MAC of a request: method, path and raw query, and the
// expiry, each ended by a newline (none of them may hold one: a path or
// query that did could not be told from another split).
func clusterMAC(secret []byte, method, path, rawQuery string, expiry int64) []byte {
	m := hmac.New(sha256.New, secret)
	for _, s := range []string{clusterAuthVersion, method, path, rawQuery, strconv.FormatInt(expiry, 10)} {
		m.Write([]byte(s))
		m.Write([]byte{'\n'})
	}
	return m.Sum(nil)
}

// signCluster returns the header value authenticating a request until
// now+clusterAuthLifetime.
func signCluster(secret []byte, method, path, rawQuery string, now time.Time) string {
	exp := now.Add(clusterAuthLifetime).Unix()
	return clusterAuthVersion + "." + strconv.FormatInt(exp, 10) + "." +
		hex.EncodeToString(clusterMAC(secret, method, path, rawQuery, exp))
}

// parseClusterAuth splits a header value into its expiry and MAC.
func parseClusterAuth(v string) (expiry int64, mac []byte, err error) {
	if v == "" {
		return 0, nil, errAuthMissing
	}
	if len(v) > clusterAuthMaxLen {
		return 0, nil, errAuthMalformed
	}
	ver, rest, ok := strings.Cut(v, ".")
	if !ok || ver != clusterAuthVersion {
		return 0, nil, errAuthMalformed
	}
	exp, sum, ok := strings.Cut(rest, ".")
	if !ok || exp == "" || len(exp) > 19 || len(sum) != 2*sha256.Size {
		return 0, nil, errAuthMalformed
	}
	for i := 0; i < len(exp); i++ {
		if exp[i] < '0' || exp[i] > '9' {
			return 0, nil, errAuthMalformed
		}
	}
	if expiry, err = strconv.ParseInt(exp, 10, 64); err != nil {
		return 0, nil, errAuthMalformed
	}
	if mac, err = hex.DecodeString(sum); err != nil {
		return 0, nil, errAuthMalformed
	}
	return expiry, mac, nil
}

// verifyCluster checks a request's header value at now.
func verifyCluster(secret []byte, header, method, path, rawQuery string, now time.Time) error {
	if len(secret) == 0 {
		return errAuthNoSecret
	}
	exp, mac, err := parseClusterAuth(header)
	if err != nil {
		return err
	}
	// Checked after the MAC, so the answer says nothing about expiries to
	// who has no secret; compared in constant time.
	if !hmac.Equal(mac, clusterMAC(secret, method, path, rawQuery, exp)) {
		return errAuthMismatch
	}
	switch t := now.Unix(); {
	case exp < t:
		return errAuthExpired
	case exp > t+int64(clusterAuthMaxAhead/time.Second):
		return errAuthAhead
	}
	return nil
}
