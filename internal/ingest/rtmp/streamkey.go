package rtmp

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// appName is the only RTMP application served: ingest URLs are
// rtmp(s)://host:port/app/{streamKey}, as on IVS.
const appName = "app"

// maxStreamKeyLen is far above IVS's 47-character keys but bounds what we
// hand to the store.
const maxStreamKeyLen = 256

// Errors of streamKeyFromURL. They never quote the URL, which holds the key.
var (
	errNoURL       = errors.New("rtmp: publish without a URL")
	errBadApp      = errors.New("rtmp: unknown application, want /app/{streamKey}")
	errBadKeyShape = errors.New("rtmp: malformed stream key")
)

// streamKeyFromURL returns the stream key of a publish URL, which gortmplib
// builds as tcUrl + "/" + the publish command's stream name. Encoders differ
// in the slashes they put around the app name (OBS allows a trailing slash in
// the server field), so empty path elements are ignored; anything but exactly
// "app" and one key is refused. A query string (some encoders append one to
// the key) is already split off by url.Parse and ignored.
func streamKeyFromURL(u *url.URL) (string, error) {
	if u == nil {
		return "", errNoURL
	}
	var parts []string
	for p := range strings.SplitSeq(u.Path, "/") {
		if p != "" {
			parts = append(parts, p)
		}
		if len(parts) > 2 {
			return "", errBadApp
		}
	}
	if len(parts) != 2 || parts[0] != appName {
		return "", errBadApp
	}
	key := parts[1]
	if len(key) > maxStreamKeyLen || !utf8.ValidString(key) {
		return "", errBadKeyShape
	}
	for _, r := range key {
		// Keys are printable ASCII on IVS; refusing the rest keeps control
		// characters and spaces out of store queries.
		if r <= ' ' || r >= 0x7f {
			return "", errBadKeyShape
		}
	}
	return key, nil
}

// redactErr hides gortmplib handshake errors that may quote the connect or
// publish command, or a URL: both can carry the stream key, which must never
// reach a log. The part before the first colon names the failure well enough.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New("invalid URL in connect or publish command")
	}
	// Socket errors name addresses only; keep them whole for errors.Is.
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "://") || strings.Contains(msg, "{") {
		if i := strings.IndexByte(msg, ':'); i > 0 {
			msg = msg[:i]
		} else {
			msg = "malformed command"
		}
		return errors.New(msg)
	}
	return err
}
