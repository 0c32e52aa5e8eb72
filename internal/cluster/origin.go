package cluster

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Origin is the node that publishes a channel's live stream.
type Origin struct {
	NodeID   string
	BaseURL  string // its HTTP listener, e.g. http://10.0.0.5:8080
	StreamID string
}

// originTTL is how long a looked-up origin is trusted: a claim elsewhere
// also drops it at once (onClaimed).
const originTTL = time.Second

type originEntry struct {
	o       Origin
	ok      bool
	expires time.Time
}

// Origin returns the node that publishes channelID, if that is another
// live node. Answers are cached for a second.
func (n *Node) Origin(ctx context.Context, channelID string) (Origin, bool) {
	if _, local := n.cfg.Registry.Get(channelID); local {
		return Origin{}, false
	}
	now := time.Now()
	n.mu.Lock()
	e, hit := n.origins[channelID]
	n.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.o, e.ok
	}
	e = originEntry{expires: now.Add(originTTL)}
	ls, err := n.cfg.Store.LiveStreams(ctx, n.cfg.LeaseTTL, channelID)
	if err != nil {
		// The store is down: keep answering what was known, for a while.
		if hit {
			return e.o, e.ok
		}
		return Origin{}, false
	}
	for _, l := range ls {
		if addr := n.addrOf(l.NodeID); l.NodeID != n.cfg.NodeID && addr != "" {
			e.o, e.ok = Origin{NodeID: l.NodeID, BaseURL: addr, StreamID: l.Session.StreamID}, true
		}
	}
	n.mu.Lock()
	if len(n.origins) > 10000 {
		clear(n.origins) // bounded: live channels rarely number that many
	}
	n.origins[channelID] = e
	n.mu.Unlock()
	return e.o, e.ok
}

// forgetOrigin drops the cached origin of a channel (it was claimed).
func (n *Node) forgetOrigin(channelID string) {
	n.mu.Lock()
	delete(n.origins, channelID)
	n.mu.Unlock()
}

// addrOf is a live node's address, as its last heartbeat read it.
func (n *Node) addrOf(nodeID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range n.nodes {
		if o.ID == nodeID && o.Live {
			return o.Addr
		}
	}
	return ""
}

// RelayToOrigin serves a request about the channel in its path
// ({channelId}) that another node publishes by relaying it to that node:
// WHEP's signalling (the offer and the session resource; media then flows
// between the viewer and the origin's ICE addresses) and the thumbnail.
// Requests about channels this node publishes, or no node does, go to
// local.
func (n *Node) RelayToOrigin(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := n.Origin(r.Context(), r.PathValue("channelId"))
		if !ok || r.Method == http.MethodOptions {
			local.ServeHTTP(w, r)
			return
		}
		u, err := url.Parse(o.BaseURL)
		if err != nil {
			http.Error(w, "the node that has the stream has a bad address", http.StatusBadGateway)
			return
		}
		p := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.SetXForwarded()
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				n.log.Warn("relay to the origin", "node", o.NodeID, "path", r.URL.Path, "err", err)
				http.Error(w, "the node that has the stream does not answer", http.StatusBadGateway)
			},
		}
		p.ServeHTTP(w, r)
	})
}
