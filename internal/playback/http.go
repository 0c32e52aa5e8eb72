package playback

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// TokenParam is the query parameter that carries a playback token or a
// session credential, as on IVS.
const TokenParam = "token"

// FromRequest reads the playback Request of r for a channel. It does not
// allocate for a request without a token: players make one per part.
func FromRequest(r *http.Request, channelID string, start bool) Request {
	return Request{ChannelID: channelID, Token: tokenOf(r.URL.RawQuery), Origin: r.Header.Get("Origin"), Start: start,
		Remote: r.RemoteAddr}
}

// tokenOf finds token= in a raw query.
func tokenOf(raw string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != TokenParam {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
		}
		return v
	}
	return ""
}

// Fail answers err: a refusal with its status and reason, anything else
// as a 500 that reveals nothing.
func Fail(w http.ResponseWriter, err error) {
	w.Header().Set("Cache-Control", "no-store")
	var d *Denied
	if errors.As(err, &d) {
		http.Error(w, d.Reason, d.Status)
		return
	}
	http.Error(w, "playback authorization failed", http.StatusInternalServerError)
}

// SetCORS answers with the grant's Access-Control-Allow-Origin, varying
// by Origin when it names one.
func SetCORS(h http.Header, g Grant) {
	if g.AllowOrigin == "*" || g.AllowOrigin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", g.AllowOrigin)
	h.Add("Vary", "Origin")
}

// Guard lets a request through to next only if it may play the channel in
// its {channelId} path value (e.g. a thumbnail).
func (a *Authorizer) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := a.Authorize(r.Context(), FromRequest(r, r.PathValue("channelId"), false))
		if err != nil {
			Fail(w, err)
			return
		}
		SetCORS(w.Header(), g)
		next.ServeHTTP(w, r)
	})
}
