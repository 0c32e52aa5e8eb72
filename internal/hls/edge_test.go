package hls

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

var testSecret = []byte("the cluster's secret, 32 bytes!!")

// originEnv is an env (a server with a live stream the test feeds) whose
// internal route is served over h2c, as ConfigureOriginServer sets it up,
// behind a handler that counts the requests and connections it gets.
type originEnv struct {
	*env
	internal *httptest.Server

	mu     sync.Mutex
	hits   map[string]int // by path?query
	http1  int            // requests that came over HTTP/1
	conns  atomic.Int32   // TCP connections accepted
	active atomic.Int32   // requests being answered
	handle http.Handler
}

func newOrigin(t *testing.T, latency string, tweak func(*Server)) *originEnv {
	t.Helper()
	return newOriginWith(t, streamtest.H264(t), latency, "", tweak)
}

func newOriginWith(t *testing.T, v *streamtest.Video, latency, container string, tweak func(*Server)) *originEnv {
	t.Helper()
	e := newEnvWith(t, v, latency, container, func(s *Server) {
		s.cfg.ClusterSecret = testSecret
		if tweak != nil {
			tweak(s)
		}
	})
	o := &originEnv{env: e, hits: make(map[string]int)}
	mux := http.NewServeMux()
	mux.Handle(InternalPathPrefix, e.srv.InternalHandler())
	o.handle = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits[r.URL.Path+"?"+r.URL.RawQuery]++
		if r.ProtoMajor < 2 {
			o.http1++
		}
		o.mu.Unlock()
		o.active.Add(1)
		defer o.active.Add(-1)
		mux.ServeHTTP(w, r)
	})
	o.internal = httptest.NewUnstartedServer(o.handle)
	ConfigureOriginServer(o.internal.Config)
	o.internal.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			o.conns.Add(1)
		}
	}
	o.internal.Start()
	t.Cleanup(o.internal.Close)
	return o
}

// count returns the requests the origin got for an internal path (with
// its query).
func (o *originEnv) count(pathQuery string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[InternalPathPrefix+pathQuery]
}

// testOrigins is the cluster's answer, as the test sets it.
type testOrigins struct {
	mu sync.Mutex
	m  map[string]Origin
}

func (to *testOrigins) Origin(_ context.Context, channelID string) (Origin, bool) {
	to.mu.Lock()
	defer to.mu.Unlock()
	o, ok := to.m[channelID]
	return o, ok
}

func (to *testOrigins) set(channelID string, o Origin) {
	to.mu.Lock()
	defer to.mu.Unlock()
	to.m[channelID] = o
}

// edgeEnv is a server with no stream of its own, an edge of origin's,
// behind an HTTP server for viewers.
type edgeEnv struct {
	*env
	origins *testOrigins
}

func newEdgeOf(t *testing.T, o *originEnv, tweak func(*Server)) *edgeEnv {
	t.Helper()
	origins := &testOrigins{m: map[string]Origin{
		testChannelID: {NodeID: "origin", BaseURL: o.internal.URL, StreamID: o.st.StreamID},
	}}
	srv := New(Config{Log: streamtest.Log(), ClusterSecret: testSecret, Origins: origins})
	if tweak != nil {
		tweak(srv)
	}
	mux := http.NewServeMux()
	mux.Handle(pathPrefix, srv)
	e := &edgeEnv{env: &env{srv: srv, http: httptest.NewServer(mux)}, origins: origins}
	t.Cleanup(func() {
		srv.Close()
		e.http.Close()
	})
	return e
}

// serverTime is the multivariant line that says when it was served.
var serverTime = regexp.MustCompile(`(?m)^#EXT-X-SESSION-DATA:DATA-ID="SERVER-TIME".*\n`)

// sessionIDs are the playback session ids in a multivariant's URIs.
var sessionIDs = regexp.MustCompile(`vsid=[A-Za-z0-9_-]{22}`)

func sameButViewer(b []byte) []byte {
	return sessionIDs.ReplaceAll(serverTime.ReplaceAll(b, nil), []byte("vsid=X"))
}

// Through an edge, a viewer gets what the origin's own server gives it,
// byte for byte: the multivariant (but for its session id and the time),
// media playlists with and without directives and queries, parts,
// segments, init files; HEAD and CORS as well.
func TestEdgeSameBytes(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, nil)
	// Settled: the multivariant's measures move while the muxer catches up.
	media := mustMedia(t, o.settled(t, "video1_stream.m3u8"))

	for _, q := range []string{"", "?token=abc"} {
		om, em := o.get(t, testPlayback+q), e.get(t, testPlayback+q)
		if om.status != http.StatusOK || em.status != http.StatusOK {
			t.Fatalf("multivariant%s: origin %d, edge %d %s", q, om.status, em.status, em.body)
		}
		checkCORS(t, em)
		if !bytes.Equal(sameButViewer(om.body), sameButViewer(em.body)) {
			t.Fatalf("multivariant%s differs:\norigin:\n%s\nedge:\n%s", q, om.body, em.body)
		}
		if em.header.Get("Content-Type") != om.header.Get("Content-Type") {
			t.Fatalf("Content-Type %q, origin's %q", em.header.Get("Content-Type"), om.header.Get("Content-Type"))
		}
	}

	last := media.Segments[len(media.Segments)-1]
	// The last complete part: a blocking reload for it is answered at
	// once, and by the same playlist on both.
	msn, part := media.MediaSequence+len(media.Segments), len(media.Parts)-1
	if part < 0 {
		msn, part = msn-1, len(last.Parts)-1
	}
	vsid := newSessionID()
	for _, q := range []string{
		"",
		fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d", msn, part),
		fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d&vsid=%s", msn, part, vsid),
		fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d&_HLS_skip=YES&vsid=%s&token=abc", msn, part, vsid),
		"?vsid=" + vsid + "&token=a%20b",
	} {
		p := channelDir + "video1_stream.m3u8" + q
		op, ep := o.get(t, p), e.get(t, p)
		if op.status != http.StatusOK || ep.status != http.StatusOK {
			t.Fatalf("%s: origin %d, edge %d %s", q, op.status, ep.status, ep.body)
		}
		checkCORS(t, ep)
		if !bytes.Equal(op.body, ep.body) {
			t.Fatalf("media playlist%s differs:\norigin:\n%s\nedge:\n%s", q, op.body, ep.body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Content-Length"} {
			if op.header.Get(h) != ep.header.Get(h) {
				t.Fatalf("media playlist%s: %s %q, origin's %q", q, h, ep.header.Get(h), op.header.Get(h))
			}
		}
	}
	if !bytes.Contains(e.get(t, channelDir+"video1_stream.m3u8?token=abc").body, []byte(".mp4?token=abc")) {
		t.Fatal("the viewer's query is not in the edge's media playlist URIs")
	}

	files := []string{media.Map.URI, last.URI, last.Parts[0].URI, last.Parts[len(last.Parts)-1].URI}
	for _, f := range files {
		of, ef := o.get(t, channelDir+f), e.get(t, channelDir+f)
		if of.status != http.StatusOK || ef.status != http.StatusOK || len(ef.body) == 0 {
			t.Fatalf("%s: origin %d, edge %d", f, of.status, ef.status)
		}
		if !bytes.Equal(of.body, ef.body) {
			t.Fatalf("%s: %d bytes through the edge, %d from the origin, different", f, len(ef.body), len(of.body))
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Content-Length"} {
			if of.header.Get(h) != ef.header.Get(h) {
				t.Fatalf("%s: %s %q, origin's %q", f, h, ef.header.Get(h), of.header.Get(h))
			}
		}
		checkCORS(t, ef)
		if h := e.do(t, http.MethodHead, channelDir+f); h.status != http.StatusOK || len(h.body) != 0 ||
			h.header.Get("Content-Length") != of.header.Get("Content-Length") {
			t.Fatalf("HEAD %s: %d, %d bytes, Content-Length %q", f, h.status, len(h.body), h.header.Get("Content-Length"))
		}
	}
	// A second read of a file comes from the cache.
	before := o.count(testChannelID + "/" + last.URI + "?")
	if r := e.get(t, channelDir+last.URI); r.status != http.StatusOK || o.count(testChannelID+"/"+last.URI+"?") != before {
		t.Fatalf("segment read again: %d, origin asked %d times", r.status, o.count(testChannelID+"/"+last.URI+"?"))
	}
	if e.srv.edge.cache.bytes() == 0 {
		t.Fatal("nothing cached")
	}

	// The edge counts its players, the origin only its own.
	if n := e.srv.Viewers(testChannelID); n != 2 { // vsid, and the address of the requests without one
		t.Fatalf("edge viewers %d, want 2", n)
	}
	if n := o.srv.Viewers(testChannelID); n != 2 { // the same two, asked of the origin directly
		t.Fatalf("origin viewers %d, want 2", n)
	}
	if e.srv.BytesOut(testChannelID) == 0 {
		t.Fatal("edge counted no bytes out")
	}
	// What the origin has not is not found through the edge either.
	for _, p := range []string{channelDir + "nope_stream.m3u8", channelDir + "abc_video1_seg999.mp4",
		"/api/video/v1/us-east-1.123456789012.channel.otherChannel1.m3u8"} {
		if r := e.get(t, p); r.status != http.StatusNotFound {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
	for _, q := range []string{"_HLS_msn=x", "_HLS_msn=1&_HLS_part=-1", "_HLS_part=1"} {
		if r, or := e.get(t, channelDir+"video1_stream.m3u8?"+q), o.get(t, channelDir+"video1_stream.m3u8?"+q); r.status != http.StatusBadRequest || or.status != r.status {
			t.Fatalf("%s: %d, origin's %d", q, r.status, or.status)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.http1 != 0 || o.conns.Load() != 1 {
		t.Fatalf("origin: %d HTTP/1 requests, %d connections; want h2c over one", o.http1, o.conns.Load())
	}
}

// NORMAL channels (MPEG-TS and fMP4 HLS) through an edge: the media
// playlist's URIs carry the viewer's query as the origin's own server
// puts it there.
func TestEdgeNormalLatency(t *testing.T) {
	t.Parallel()
	for _, container := range []string{ivs.ContainerTS, ivs.ContainerFMP4} {
		t.Run(container, func(t *testing.T) {
			t.Parallel()
			o := newOriginWith(t, streamtest.H264(t), ivs.LatencyNormal, container, nil)
			o.writeUntil(4 * time.Second)
			e := newEdgeOf(t, o, nil)
			mv := mustMultivariant(t, e.get(t, testPlayback).body)
			file := strings.TrimPrefix(withoutSession(t, mv.Variants[0].URI), testChannelID+"/")
			p := channelDir + file + "?vsid=" + newSessionID() + "&token=t&_HLS_msn=3"
			streamtest.Eventually(t, 10*time.Second, "same media playlist", func() bool {
				op, ep := o.get(t, p), e.get(t, p)
				return op.status == http.StatusOK && bytes.Equal(op.body, ep.body)
			})
			seg := mustMedia(t, e.get(t, p).body).Segments[0].URI
			if !strings.Contains(seg, "token=t") {
				t.Fatalf("segment URI %q lacks the query", seg)
			}
			of, ef := o.get(t, channelDir+seg), e.get(t, channelDir+seg)
			if ef.status != http.StatusOK || !bytes.Equal(of.body, ef.body) {
				t.Fatalf("segment: %d, %d bytes (origin %d)", ef.status, len(ef.body), len(of.body))
			}
		})
	}
}

// Viewers blocked on the same blocking reload, and on the same hinted
// part, cost the origin one request each, over one connection, and all get
// the same bytes; the hinted part is asked of the origin before it exists.
func TestEdgeCoalesces(t *testing.T) {
	t.Parallel()
	const viewers = 50
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, nil)
	media := mustMedia(t, o.settled(t, "video1_stream.m3u8"))
	msn, part := media.MediaSequence+len(media.Segments), len(media.Parts)
	reload := fmt.Sprintf("video1_stream.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, part)
	hint := media.PreloadHint.URI

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 2 * viewers}}
	defer client.CloseIdleConnections()
	get := func(p string, out chan<- response) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+channelDir+p, nil)
		res, err := client.Do(req)
		if err != nil {
			out <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			out <- response{status: -2, body: []byte(err.Error())}
			return
		}
		out <- response{status: res.StatusCode, header: res.Header, body: body}
	}
	reloads, parts := make(chan response, viewers), make(chan response, viewers)
	for range viewers {
		go get(reload+"&vsid="+newSessionID(), reloads)
		go get(hint, parts)
	}
	// Every viewer waits at the edge, and the origin was asked once for
	// each, while the part does not exist yet.
	key := func(rel, q string) string { return testChannelID + "\x00" + o.st.StreamID + "\x00" + rel + "?" + q }
	waiters := func(k string) int {
		c := e.srv.edge.cache
		c.mu.Lock()
		defer c.mu.Unlock()
		if f := c.m[k]; f != nil {
			return f.waiters
		}
		return 0
	}
	reloadKey := key(testChannelID+"/video1_stream.m3u8", fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, part))
	hintKey := key(testChannelID+"/"+hint, "")
	streamtest.Eventually(t, 15*time.Second, "viewers waiting at the edge, the origin asked", func() bool {
		return waiters(reloadKey) == viewers && waiters(hintKey) == viewers &&
			o.count(testChannelID+"/"+hint+"?") == 1 && o.active.Load() == 2
	})
	select {
	case r := <-parts:
		t.Fatalf("the hinted part was answered before it existed: %d", r.status)
	default:
	}

	o.writeUntil(4 * time.Second)
	var first [2][]byte
	for i, ch := range []chan response{reloads, parts} {
		for n := range viewers {
			r := await(t, ch, 20*time.Second, fmt.Sprintf("viewer %d", n))
			if r.status != http.StatusOK {
				t.Fatalf("viewer %d: %d %s", n, r.status, r.body)
			}
			if first[i] == nil {
				first[i] = r.body
			} else if !bytes.Equal(first[i], r.body) {
				t.Fatalf("viewer %d got other bytes", n)
			}
		}
	}
	if got := o.count(testChannelID + "/video1_stream.m3u8?" + fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, part)); got != 1 {
		t.Fatalf("blocking reload asked of the origin %d times", got)
	}
	if got := o.count(testChannelID + "/" + hint + "?"); got != 1 {
		t.Fatalf("hinted part asked of the origin %d times", got)
	}
	// The part is the origin's.
	if of := o.get(t, channelDir+hint); !bytes.Equal(of.body, first[1]) {
		t.Fatal("the hinted part differs from the origin's")
	}
	if n := o.conns.Load(); n != 1 {
		t.Fatalf("the origin saw %d connections, want 1", n)
	}
	if n := e.srv.Viewers(testChannelID); n != viewers {
		t.Fatalf("edge counts %d viewers, want %d", n, viewers)
	}
	if rv := e.srv.RemoteViewers(); len(rv) != 1 || rv[testChannelID] != viewers {
		t.Fatalf("remote viewers %v", rv)
	}
	if rv := o.srv.RemoteViewers(); len(rv) != 0 {
		t.Fatalf("the origin's remote viewers %v", rv)
	}
	if st := e.srv.EdgeStats(); st.OriginRequests != 2 || st.Shared != 2*viewers-2 || st.OriginFailures != 0 || st.CacheBytes == 0 {
		t.Fatalf("edge stats %+v", st)
	}
}

// A new stream of the channel drops what the edge had of the old one, and
// the old stream's players get 404 for their media playlists (so they
// reload the multivariant), whether the edge learns it from its origin
// look-up or from the origin's answer.
func TestEdgeNewStream(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, nil)
	mv := mustMultivariant(t, e.get(t, testPlayback).body)
	oldURI := "/api/video/v1/" + mv.Variants[0].URI
	old := mustMedia(t, e.get(t, oldURI).body)
	if r := e.get(t, channelDir+old.Map.URI); r.status != http.StatusOK {
		t.Fatalf("init: %d", r.status)
	}
	oldStream := o.st.StreamID

	restart := func(id string) {
		o.hub.Close()
		o.detach()
		tr := o.hub.Tracks()
		o.hub = stream.NewHub([]*stream.Track{{Codec: tr[0].Codec, ClockRate: tr[0].ClockRate}, {Codec: tr[1].Codec, ClockRate: tr[1].ClockRate}})
		o.st = &live.Stream{Channel: o.st.Channel, StreamID: id, StartTime: time.Now(), Hub: o.hub}
		o.frame, o.aframe = 0, 0
		var err error
		if o.detach, err = o.srv.Attach(o.st); err != nil {
			t.Fatal(err)
		}
		o.writeUntil(3 * time.Second)
	}
	cached := func(streamID string) int {
		c := e.srv.edge.cache
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		for k := range c.m {
			if strings.Contains(k, "\x00"+streamID+"\x00") {
				n++
			}
		}
		return n
	}
	if cached(oldStream) == 0 {
		t.Fatal("nothing of the stream cached")
	}

	// The origin has a new stream; the look-up still names the old one
	// (a second behind): the origin's answer tells.
	restart("st-second")
	streamtest.Eventually(t, 5*time.Second, "old player's playlist 404", func() bool {
		return e.get(t, oldURI).status == http.StatusNotFound
	})
	if n := cached(oldStream); n != 0 {
		t.Fatalf("%d entries of the old stream still cached", n)
	}
	if r := e.get(t, channelDir+old.Map.URI); r.status != http.StatusNotFound {
		t.Fatalf("old init: %d", r.status)
	}
	// A new multivariant gives the player a new session, which plays the
	// new stream.
	mv2 := mustMultivariant(t, e.get(t, testPlayback).body)
	newURI := "/api/video/v1/" + mv2.Variants[0].URI
	r := e.get(t, newURI)
	if r.status != http.StatusOK {
		t.Fatalf("new player's playlist: %d", r.status)
	}
	if m := mustMedia(t, r.body); m.Map.URI == old.Map.URI {
		t.Fatal("the new stream's playlist names the old init file")
	}
	if e.get(t, oldURI).status != http.StatusNotFound {
		t.Fatal("old player's playlist served after the switch")
	}
	if n := e.srv.Viewers(testChannelID); n != 1 {
		t.Fatalf("viewers of the new stream %d, want 1", n)
	}

	// Now the look-up names a third stream before the edge saw it.
	restart("st-third")
	e.origins.set(testChannelID, Origin{NodeID: "origin", BaseURL: o.internal.URL, StreamID: "st-third"})
	if r := e.get(t, newURI); r.status != http.StatusNotFound {
		t.Fatalf("second stream's player after the third started: %d", r.status)
	}
	if n := cached("st-second"); n != 0 {
		t.Fatalf("%d entries of the second stream still cached", n)
	}
	// A look-up naming a retired stream does not bring it back.
	e.origins.set(testChannelID, Origin{NodeID: "origin", BaseURL: o.internal.URL, StreamID: "st-second"})
	mv3 := mustMultivariant(t, e.get(t, testPlayback).body)
	if r := e.get(t, "/api/video/v1/"+mv3.Variants[0].URI); r.status != http.StatusOK {
		t.Fatalf("third stream's player: %d %s", r.status, r.body)
	}
	// Live nowhere: 404, and the channel forgotten.
	e.origins.mu.Lock()
	delete(e.origins.m, testChannelID)
	e.origins.mu.Unlock()
	if r := e.get(t, testPlayback); r.status != http.StatusNotFound {
		t.Fatalf("multivariant of a channel live nowhere: %d", r.status)
	}
	if n := e.srv.Viewers(testChannelID); n != 0 {
		t.Fatalf("viewers of a channel live nowhere: %d", n)
	}
}

// The internal route answers only requests with a valid, unexpired MAC of
// the cluster's secret, and refuses all others with a bare 403.
func TestInternalAuth(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	now := time.Now()
	const rel = testChannelID + ".m3u8"
	sign := func(secret []byte, method, path, q string, exp time.Time) string {
		e := exp.Unix()
		return fmt.Sprintf("v1.%d.%x", e, clusterMAC(secret, method, path, q, e))
	}
	cases := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"valid", "GET", rel, signCluster(testSecret, "GET", rel, "", now), 200},
		{"valid HEAD", "HEAD", rel, signCluster(testSecret, "HEAD", rel, "", now), 200},
		{"missing", "GET", rel, "", 403},
		{"garbage", "GET", rel, "hello", 403},
		{"other version", "GET", rel, "v2" + signCluster(testSecret, "GET", rel, "", now)[2:], 403},
		{"other secret", "GET", rel, signCluster([]byte("another secret"), "GET", rel, "", now), 403},
		{"empty secret", "GET", rel, signCluster(nil, "GET", rel, "", now), 403},
		{"other path", "GET", rel, signCluster(testSecret, "GET", testChannelID+"/video1_stream.m3u8", "", now), 403},
		{"other method", "GET", rel, signCluster(testSecret, "HEAD", rel, "", now), 403},
		{"other query", "GET", rel + "?_HLS_msn=1", signCluster(testSecret, "GET", rel, "", now), 403},
		{"expired", "GET", rel, sign(testSecret, "GET", rel, "", now.Add(-time.Second)), 403},
		{"too far ahead", "GET", rel, sign(testSecret, "GET", rel, "", now.Add(time.Hour)), 403},
		{"truncated MAC", "GET", rel, signCluster(testSecret, "GET", rel, "", now)[:40], 403},
		{"valid, unknown channel", "GET", "otherChannel1.m3u8", signCluster(testSecret, "GET", "otherChannel1.m3u8", "", now), 404},
		{"valid, POST", "POST", rel, signCluster(testSecret, "POST", rel, "", now), 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, q, _ := strings.Cut(tc.path, "?")
			u := o.internal.URL + InternalPathPrefix + path
			if q != "" {
				u += "?" + q
			}
			req, _ := http.NewRequest(tc.method, u, nil)
			if tc.auth != "" {
				req.Header.Set(clusterAuthHeader, tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if tc.want == 403 && (string(body) != "forbidden\n" || res.Header.Get(streamIDHeader) != "") {
				t.Fatalf("403 with %q and stream id %q", body, res.Header.Get(streamIDHeader))
			}
			if tc.want == 200 && res.Header.Get(streamIDHeader) != o.st.StreamID {
				t.Fatalf("stream id %q", res.Header.Get(streamIDHeader))
			}
		})
	}
	// A server without a secret refuses everything, even a MAC of nothing.
	s := New(Config{Log: streamtest.Log()})
	t.Cleanup(s.Close)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", InternalPathPrefix+rel, nil)
	req.Header.Set(clusterAuthHeader, signCluster(nil, "GET", rel, "", now))
	s.InternalHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("no secret: %d", rec.Code)
	}
}

// An edge whose secret differs from the origin's answers 503, as for an
// origin it cannot reach.
func TestEdgeWrongSecret(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, func(s *Server) { s.cfg.ClusterSecret = []byte("not the cluster's") })
	if r := e.get(t, testPlayback); r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", r.status)
	}
}

// An origin that cannot be reached makes its requests 503 (Retry-After),
// and the edge serves again as soon as it is back.
func TestEdgeOriginDown(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	// A free port, with nothing listening on it yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := newEdgeOf(t, o, nil)
	e.origins.set(testChannelID, Origin{NodeID: "down", BaseURL: "http://" + addr, StreamID: o.st.StreamID})
	for _, p := range []string{testPlayback, channelDir + "video1_stream.m3u8", channelDir + "x_video1_part1.mp4"} {
		r := e.get(t, p)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %q, want 503 with Retry-After", p, r.status, r.header.Get("Retry-After"))
		}
	}
	if st := e.srv.EdgeStats(); st.OriginFailures != 3 {
		t.Fatalf("edge stats %+v, want 3 failures", st)
	}
	// Back, on the same address.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	back := &http.Server{Handler: o.handle}
	ConfigureOriginServer(back)
	go func() { _ = back.Serve(l) }() // ErrServerClosed at the test's end
	defer back.Close()
	streamtest.Eventually(t, 10*time.Second, "served again", func() bool {
		return e.get(t, testPlayback).status == http.StatusOK
	})
	if r := e.get(t, channelDir+"video1_stream.m3u8"); r.status != http.StatusOK {
		t.Fatalf("media playlist: %d", r.status)
	}
}

// A viewer that stops reading a segment, or reads it slowly, holds up
// neither the origin's response nor the other viewers of the segment; it
// is cut off after SendTimeout.
func TestEdgeSlowViewer(t *testing.T) {
	t.Parallel()
	o := newOriginWith(t, fat(t, 16<<10), ivs.LatencyLow, ivs.ContainerTS, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, func(s *Server) { s.cfg.SendTimeout = time.Second })
	media := mustMedia(t, o.settled(t, "video1_stream.m3u8"))
	var seg string
	for _, sg := range media.Segments {
		if !sg.Gap {
			seg = channelDir + sg.URI
			break
		}
	}
	addr := strings.TrimPrefix(e.http.URL, "http://")
	stuck := dialSlow(t, addr)
	fmt.Fprintf(stuck, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", seg)
	// Let the stuck viewer be the one whose request starts the fetch.
	streamtest.Eventually(t, 10*time.Second, "origin asked", func() bool {
		return o.count(strings.TrimPrefix(seg, "/api/video/v1/")+"?") == 1
	})
	full := e.get(t, seg)
	want := o.get(t, seg)
	if full.status != http.StatusOK || !bytes.Equal(full.body, want.body) || len(full.body) < 400<<10 {
		t.Fatalf("normal viewer: %d, %d bytes (origin's %d)", full.status, len(full.body), len(want.body))
	}
	streamtest.Eventually(t, 10*time.Second, "stuck viewer cut off", func() bool {
		return e.srv.SlowViewersDropped() == 1
	})
	_ = stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(stuck), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil || n >= int64(len(full.body)) {
		t.Errorf("stuck viewer read %d bytes, err %v; want a cut-off response", n, err)
	}
	if o.count(strings.TrimPrefix(seg, "/api/video/v1/")+"?") != 1 {
		t.Fatal("segment asked of the origin more than once")
	}
}

// A viewer that leaves cancels the origin request only if it was the last
// one waiting on it.
func TestEdgeLastViewerCancels(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, nil)
	media := mustMedia(t, o.settled(t, "video1_stream.m3u8"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+channelDir+media.PreloadHint.URI, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	streamtest.Eventually(t, 10*time.Second, "origin asked", func() bool {
		return o.count(testChannelID+"/"+media.PreloadHint.URI+"?") == 1 && o.active.Load() == 1
	})
	cancel()
	<-done
	streamtest.Eventually(t, 10*time.Second, "origin request ended", func() bool {
		return o.active.Load() == 0
	})
	c := e.srv.edge.cache
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d fetches left", n)
	}
}

// TestEdgeCloseLeavesNothing is not parallel: it counts goroutines.
func TestEdgeCloseLeavesNothing(t *testing.T) {
	streamtest.H264(t)
	base := runtime.NumGoroutine()
	func() {
		o := newOrigin(t, ivs.LatencyLow, nil)
		o.writeUntil(3 * time.Second)
		e := newEdgeOf(t, o, nil)
		media := mustMedia(t, o.settled(t, "video1_stream.m3u8"))
		if r := e.get(t, testPlayback); r.status != http.StatusOK {
			t.Fatalf("multivariant: %d", r.status)
		}
		hinted := e.async(t, channelDir+media.PreloadHint.URI)
		streamtest.Eventually(t, 10*time.Second, "hinted part asked of the origin", func() bool {
			return o.active.Load() == 1
		})
		e.srv.Close()
		if r := await(t, hinted, 5*time.Second, "hinted part after Close"); r.status == http.StatusOK {
			t.Fatal("hinted part served after Close")
		}
		if r := e.get(t, testPlayback); r.status != http.StatusNotFound {
			t.Fatalf("multivariant after Close: %d", r.status)
		}
		o.hub.Close()
		o.detach()
		o.srv.Close()
		o.internal.Close()
		o.http.Close()
		e.http.Close()
		http.DefaultClient.CloseIdleConnections()
	}()
	streamtest.Eventually(t, 5*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}

// IVS's web player through an edge: the multivariant of the MPEG-TS
// editions, their media playlist, and the segment being written
// (#EXT-X-PREFETCH) relayed as the origin writes it, not when it is done.
func TestEdgeIVSPlayerEdition(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(time.Second)
	e := newEdgeOf(t, o, nil)
	first := e.async(t, channelDir+editionPlaylist)
	m := o.srv.lookup(testChannelID)
	streamtest.Eventually(t, 5*time.Second, "the edition to start", func() bool { return m.ts.Load() != nil })
	o.writeUntil(4 * time.Second)
	if r := await(t, first, 10*time.Second, "the edition's media playlist"); r.status != http.StatusOK {
		t.Fatalf("edition's media playlist: %d", r.status)
	}
	o.settled(t, editionPlaylist)
	om := o.getAs(t, testPlayback, ivsPlayerAccept)
	if em := e.getAs(t, testPlayback, ivsPlayerAccept); em.status != http.StatusOK ||
		!bytes.Equal(sameButViewer(om.body), sameButViewer(em.body)) || !bytes.Contains(em.body, []byte(editionPlaylist)) {
		t.Fatalf("multivariant for IVS's player: %d\norigin:\n%s\nedge:\n%s", em.status, om.body, em.body)
	}
	var body []byte
	streamtest.Eventually(t, 5*time.Second, "the same edition playlist", func() bool {
		op, ep := o.get(t, channelDir+editionPlaylist+"?vsid=abc"), e.get(t, channelDir+editionPlaylist+"?vsid=abc")
		body = ep.body
		return op.status == http.StatusOK && bytes.Equal(op.body, ep.body)
	})
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	uri, ok := strings.CutPrefix(lines[len(lines)-1], "#EXT-X-PREFETCH:")
	if !ok || !strings.HasSuffix(uri, ".ts?vsid=abc") {
		t.Fatalf("no prefetch segment:\n%s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+channelDir+uri, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "video/mp2t" || res.ContentLength != -1 {
		t.Fatalf("prefetch segment: %d %q length %d", res.StatusCode, res.Header.Get("Content-Type"), res.ContentLength)
	}
	early := make([]byte, 188)
	if _, err := io.ReadFull(res.Body, early); err != nil || early[0] != 0x47 {
		t.Fatalf("the first packet of the segment being written: %v % x", err, early[:4])
	}
	if h := e.do(t, http.MethodHead, channelDir+uri); h.status != http.StatusOK || h.header.Get("Content-Type") != "video/mp2t" {
		t.Fatalf("HEAD of the segment being written: %d", h.status)
	}
	second := e.async(t, channelDir+uri)
	o.writeUntil(8 * time.Second) // the segment ends at the next IDR
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	whole := o.get(t, channelDir+uri)
	if whole.status != http.StatusOK || !bytes.Equal(append(early, rest...), whole.body) {
		t.Fatalf("relayed %d bytes; the finished segment: %d, %d bytes", len(early)+len(rest), whole.status, len(whole.body))
	}
	if r := await(t, second, 10*time.Second, "a second viewer"); r.status != http.StatusOK || !bytes.Equal(r.body, whole.body) {
		t.Fatalf("second viewer: %d, %d bytes", r.status, len(r.body))
	}
	if n := o.count(testChannelID + "/" + strings.TrimSuffix(uri, "?vsid=abc") + "?"); n != 1 {
		t.Fatalf("the segment was asked of the origin %d times", n)
	}
}

// testAuth grants "full" (and its session credential) everything, "sd"
// the renditions up to 160 lines, and nothing else.
type testAuth struct{}

func (testAuth) Authorize(_ context.Context, r playback.Request) (playback.Grant, error) {
	switch r.Token {
	case "full", "sess-full":
		return playback.Grant{Private: true, Session: "sess-full"}, nil
	case "sd", "sess-sd":
		return playback.Grant{Private: true, Session: "sess-sd", MaxHeight: 160, AllowOrigin: "https://player.example"}, nil
	}
	return playback.Grant{}, &playback.Denied{Status: http.StatusForbidden, Reason: "no"}
}

// An edge authorizes its viewers as the origin would, before asking the
// origin anything, and serves transcoded renditions.
func TestEdgeAuthAndRenditions(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	rh := stream.NewHub([]*stream.Track{
		{Codec: videoCodec(o.v), ClockRate: 90000},
		{Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}}, ClockRate: 48000},
	})
	defer o.srv.AddRendition(o.st, "160p30", rh)()
	re := &env{hub: rh, v: o.v}
	o.writeUntil(4 * time.Second)
	re.writeUntil(4 * time.Second)
	e := newEdgeOf(t, o, func(s *Server) { s.cfg.Auth = testAuth{} })
	streamtest.Eventually(t, 5*time.Second, "two variants at the origin", func() bool {
		r := o.get(t, testPlayback)
		return r.status == http.StatusOK && bytes.Count(r.body, []byte("#EXT-X-STREAM-INF")) == 2
	})

	for _, p := range []string{testPlayback, channelDir + "video1_stream.m3u8", channelDir + "160p30/video1_stream.m3u8?token=bad"} {
		if r := e.get(t, p); r.status != http.StatusForbidden {
			t.Fatalf("%s without a token: %d", p, r.status)
		}
	}
	o.mu.Lock()
	asked := len(o.hits)
	o.mu.Unlock()
	if asked != 0 {
		t.Fatalf("the origin was asked %d things for viewers refused", asked)
	}

	var full []byte
	streamtest.Eventually(t, 5*time.Second, "the edge's multivariant with both variants", func() bool {
		full = e.get(t, testPlayback+"?token=full").body
		return bytes.Count(full, []byte("#EXT-X-STREAM-INF")) == 2
	})
	mv := mustMultivariant(t, full)
	if !strings.Contains(mv.Variants[1].URI, testChannelID+"/160p30/video1_stream.m3u8?token=sess-full&vsid=") {
		t.Fatalf("rendition URI %q", mv.Variants[1].URI)
	}
	ren := pathPrefix + mv.Variants[1].URI
	o.settled(t, "160p30/video1_stream.m3u8") // nothing moves from here
	op, ep := o.get(t, ren), e.get(t, ren)
	if ep.status != http.StatusOK || !bytes.Contains(ep.body, []byte(".mp4?token=sess-full")) {
		t.Fatalf("rendition playlist: %d\n%s", ep.status, ep.body)
	}
	if !bytes.Equal(op.body, ep.body) {
		t.Fatalf("rendition playlist differs:\norigin:\n%s\nedge:\n%s", op.body, ep.body)
	}

	sd := e.get(t, testPlayback+"?token=sd")
	if sd.header.Get("Access-Control-Allow-Origin") != "https://player.example" {
		t.Fatalf("CORS %q", sd.header.Get("Access-Control-Allow-Origin"))
	}
	// Both are 240 lines high (the same clip): the shortest, the first, is kept.
	if mv := mustMultivariant(t, sd.body); len(mv.Variants) != 1 || !strings.Contains(mv.Variants[0].URI, "token=sess-sd") {
		t.Fatalf("a token capped at 160 lines:\n%s", sd.body)
	}
	e.srv.cfg.Auth = capAuth{}
	if r := e.get(t, channelDir+"160p30/video1_stream.m3u8?token=x"); r.status != http.StatusForbidden {
		t.Fatalf("a rendition above the token's cap: %d", r.status)
	}
}

// capAuth lets everyone play up to 100 lines.
type capAuth struct{}

func (capAuth) Authorize(context.Context, playback.Request) (playback.Grant, error) {
	return playback.Grant{MaxHeight: 100}, nil
}

// Requests that each ask the origin something different are bounded per
// channel: beyond the bound they get 503 at once, rather than taking every
// stream of the connection to the origin.
func TestEdgeInflightBounded(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(3 * time.Second)
	e := newEdgeOf(t, o, nil)
	media := mustMedia(t, o.settled(t, "video1_stream.m3u8"))
	msn := media.MediaSequence + len(media.Segments) + 1 // the segment after the next: held
	const n = edgeMaxInflightPerChannel + 2
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	out := make(chan int, n)
	for i := range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
				fmt.Sprintf("%s%svideo1_stream.m3u8?_HLS_msn=%d&_HLS_part=%d", e.http.URL, channelDir, msn, i), nil)
			res, err := client.Do(req)
			if err != nil {
				out <- -1
				return
			}
			res.Body.Close()
			out <- res.StatusCode
		}()
	}
	for range 2 {
		if s := <-out; s != http.StatusServiceUnavailable {
			t.Fatalf("beyond the bound: %d, want 503", s)
		}
	}
	streamtest.Eventually(t, 10*time.Second, "the others held at the origin", func() bool {
		return o.active.Load() == edgeMaxInflightPerChannel
	})
	o.writeUntil(6 * time.Second)
	for range n - 2 {
		if s := <-out; s != http.StatusOK {
			t.Fatalf("within the bound: %d", s)
		}
	}
	// The bound is free again.
	if r := e.get(t, channelDir+"video1_stream.m3u8?_HLS_msn=1&_HLS_part=0"); r.status == http.StatusServiceUnavailable {
		t.Fatalf("after: %d", r.status)
	}
}

// ffmpeg, a real HLS client, plays a stream through an edge: the
// multivariant, its media playlist (with the session id the edge gave
// it) and segments, and is counted as the edge's viewer.
func TestEdgeFFmpegPlays(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, ivs.LatencyLow, nil)
	o.writeUntil(8 * time.Second)
	o.settled(t, "video1_stream.m3u8")
	e := newEdgeOf(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-i", e.http.URL+testPlayback, "-map", "0:v", "-t", "2", "-f", "framecrc", "-").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffmpeg: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	frames := 0
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "#") {
			frames++
		}
	}
	if frames < 2*streamtest.FPS-5 {
		t.Fatalf("ffmpeg decoded %d frames of 2 s through the edge", frames)
	}
	if n := e.srv.Viewers(testChannelID); n != 1 {
		t.Fatalf("edge viewers %d, want 1 (ffmpeg)", n)
	}
}
