package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// newHTTPClient is one player's HTTP client: its own connections, as a
// browser tab has.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true},
		Timeout: 30 * time.Second}
}

// get fetches u into buf (reused) and returns it.
func get(ctx context.Context, hc *http.Client, u string, buf *bytes.Buffer) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	buf.Reset()
	_, err = buf.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", u, res.StatusCode)
	}
	return buf.Bytes(), err
}

// mediaPlaylists reads a multivariant playlist and returns the media
// playlists a player of its first variant loads: the variant's, and its
// audio rendition's if the audio is apart.
func mediaPlaylists(ctx context.Context, hc *http.Client, mv string) ([]*url.URL, error) {
	var buf bytes.Buffer
	b, err := get(ctx, hc, mv, &buf)
	if err != nil {
		return nil, err
	}
	var pl playlist.Multivariant
	if err := pl.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("multivariant: %w", err)
	}
	if len(pl.Variants) == 0 {
		return nil, errors.New("multivariant: no variant")
	}
	base, _ := url.Parse(mv)
	v := pl.Variants[0]
	u, err := base.Parse(v.URI)
	if err != nil {
		return nil, err
	}
	out := []*url.URL{u}
	for _, r := range pl.Renditions {
		if v.Audio != "" && r.GroupID == v.Audio && r.URI != nil {
			ru, err := base.Parse(*r.URI)
			if err != nil {
				return nil, err
			}
			out = append(out, ru)
			break
		}
	}
	return out, nil
}

// playUntilReady retries mediaPlaylists until the stream plays.
func playUntilReady(ctx context.Context, hc *http.Client, mv string) ([]*url.URL, error) {
	for {
		m, err := mediaPlaylists(ctx, hc, mv)
		if err == nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the stream never played: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// parts lists, in order, the part URIs of an LL-HLS media playlist, the
// preload-hinted part last, and the URI of the newest independent part.
func parts(b []byte) (uris []string, independent string) {
	for _, l := range bytes.Split(b, []byte("\n")) {
		switch {
		case bytes.HasPrefix(l, []byte("#EXT-X-PART:")):
			u := uriOf(l)
			uris = append(uris, u)
			if bytes.Contains(l, []byte("INDEPENDENT=YES")) {
				independent = u
			}
		case bytes.HasPrefix(l, []byte("#EXT-X-PRELOAD-HINT:")) && bytes.Contains(l, []byte("TYPE=PART")):
			uris = append(uris, uriOf(l))
		}
	}
	return uris, independent
}

// segments lists the segment URIs of a media playlist.
func segments(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	inf := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "#EXTINF:"):
			inf = true
		case inf && l != "" && !strings.HasPrefix(l, "#"):
			out = append(out, l)
			inf = false
		}
	}
	return out
}

// errBehind is a follower whose next part left the playlist: it fell
// behind the live edge.
var errBehind = errors.New("fell behind the live edge: the next part left the playlist")

// follower reads every part of one LL-HLS media playlist in order, as a
// player that plays without gaps does: it starts at the preload hint, and
// after each part asks for the next, which is the new preload hint when it
// keeps up (the server holds that request until the part is complete).
type follower struct {
	rc         rawClient
	media      *url.URL
	last       string
	lastPat    []byte // `URI="last"`
	plBuf, buf bytes.Buffer
}

func newFollower(media *url.URL) *follower { return &follower{media: media} }

func (f *follower) close() { f.rc.close() }

// next returns the next part and when its download ended.
func (f *follower) next(ctx context.Context) ([]byte, time.Time, error) {
	for {
		b, err := f.rc.get(ctx, f.media, &f.plBuf)
		if err != nil {
			return nil, time.Time{}, err
		}
		target, err := nextPart(b, f.lastPat)
		if err != nil {
			return nil, time.Time{}, err
		}
		if target == "" {
			// The part just read is still the hint here: the playlist
			// lags the part by a moment.
			select {
			case <-ctx.Done():
				return nil, time.Time{}, ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
			continue
		}
		pu, err := f.media.Parse(target)
		if err != nil {
			return nil, time.Time{}, err
		}
		data, err := f.rc.get(ctx, pu, &f.buf)
		if err != nil {
			return nil, time.Time{}, err
		}
		f.last = target
		f.lastPat = append(append(append(f.lastPat[:0], `URI="`...), target...), '"')
		return data, time.Now(), nil
	}
}

var (
	tagPart = []byte("\n#EXT-X-PART:")
	tagHint = []byte("\n#EXT-X-PRELOAD-HINT:")
)

// nextPart finds in an LL-HLS media playlist the URI of the part after the
// one lastPat (`URI="…"`) names, or of the preload hint if lastPat is
// empty; "" if that part is not listed yet. A byte scan, not a parse: the
// load generator shares the server's machine and must cost little.
func nextPart(b, lastPat []byte) (string, error) {
	if len(lastPat) == 0 {
		i := bytes.Index(b, tagHint)
		if i < 0 {
			return "", errors.New("media playlist without a preload hint")
		}
		return uriOf(b[i+1:]), nil
	}
	i := bytes.Index(b, lastPat)
	if i < 0 {
		return "", errBehind
	}
	rest := b[i:]
	j := bytes.Index(rest, tagPart)
	if k := bytes.Index(rest, tagHint); k >= 0 && (j < 0 || k < j) {
		j = k
	}
	if j < 0 {
		return "", nil
	}
	return uriOf(rest[j+1:]), nil
}

// uriOf returns the URI attribute of the tag line b starts with.
func uriOf(b []byte) string {
	if e := bytes.IndexByte(b, '\n'); e >= 0 {
		b = b[:e]
	}
	i := bytes.Index(b, []byte(`URI="`))
	if i < 0 {
		return ""
	}
	b = b[i+len(`URI="`):]
	if e := bytes.IndexByte(b, '"'); e >= 0 {
		return string(b[:e])
	}
	return ""
}
