package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// onair's own read endpoints beside the IVS operations (docs/api.md). They
// are signed with SigV4 like the rest of the API and answer errors in the
// same AWS shape, so an SDK's signer and error handling serve for them too.
func (a *API) registerExtensions(mux *http.ServeMux) {
	ext := func(pattern, name string, fn func(http.ResponseWriter, *http.Request) (int, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			a.run(w, r, name, signingName, func(w http.ResponseWriter, r *http.Request) (int, error) {
				if _, err := a.authenticate(w, r, signingName); err != nil {
					return 0, err
				}
				return fn(w, r)
			})
		})
	}
	ext("GET /v1/channels/{channelId}/sessions/{streamId}/metrics", "GetStreamSessionMetrics", a.sessionMetrics)
	ext("GET /v1/channels", "GetChannelInfo", a.channelInfo)
	ext("GET /v1/usage", "GetUsage", a.usage)
	ext("GET /v1/channels/{channelId}/playback-token", "GetPlaybackToken", a.playbackToken)
	ext("GET /v1/cluster", "GetCluster", func(w http.ResponseWriter, r *http.Request) (int, error) {
		if a.cluster == nil {
			return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "this onair is not a cluster (--nats-url is not set)"}
		}
		info, err := a.cluster(r.Context())
		if err != nil {
			return 0, err
		}
		return writeJSON(w, http.StatusOK, info), nil
	})
	ext("GET /v1/events", "StreamEvents", func(w http.ResponseWriter, r *http.Request) (int, error) {
		if a.events == nil {
			return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "the event stream is not enabled"}
		}
		a.events.ServeHTTP(w, r)
		return http.StatusOK, nil
	})
}

// sessionMetricsOutput is the answer of GET .../sessions/{streamId}/metrics.
type sessionMetricsOutput struct {
	ChannelARN string            `json:"channelArn"`
	StreamID   string            `json:"streamId"`
	StartTime  time.Time         `json:"startTime"`
	EndTime    *time.Time        `json:"endTime,omitempty"`
	Live       bool              `json:"live"`
	Stats      ivs.SessionStats  `json:"stats"`
	Points     []ivs.MetricPoint `json:"points"`
}

// sessionMetrics answers a session's per-second series as JSON, or, for a
// client that accepts text/event-stream, as Server-Sent Events that follow
// a live session until it ends.
func (a *API) sessionMetrics(w http.ResponseWriter, r *http.Request) (int, error) {
	ctx := r.Context()
	arn := ivs.ARN{Region: a.svc.Region(), Account: a.svc.AccountID(), Resource: ivs.ResourceChannel,
		ID: r.PathValue("channelId")}.String()
	streamID := r.PathValue("streamId")
	if streamID == "" || streamID == "latest" {
		streamID = ""
	}
	ss, err := a.svc.GetStreamSession(ctx, arn, streamID)
	if err != nil {
		return 0, err
	}
	q := r.URL.Query()
	from, err := queryTime(q.Get("from"), "from")
	if err != nil {
		return 0, err
	}
	to, err := queryTime(q.Get("to"), "to")
	if err != nil {
		return 0, err
	}
	points, err := a.svc.SessionMetrics(ctx, ss.StreamID, from, to)
	if err != nil {
		return 0, err
	}
	live := ss.EndTime.IsZero()
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return a.followMetrics(w, r, ss.StreamID, points, live, to)
	}
	if live && a.metrics != nil {
		points = mergePoints(points, a.metrics.Recent(ss.StreamID), from, to)
	}
	if points == nil {
		points = []ivs.MetricPoint{}
	}
	return writeJSON(w, http.StatusOK, sessionMetricsOutput{
		ChannelARN: arn, StreamID: ss.StreamID, StartTime: ss.StartTime.UTC(), EndTime: endTime(ss),
		Live: live, Stats: ss.Stats, Points: points,
	}), nil
}

// followMetrics streams the stored points, then the live ones. Each SSE
// message is `event: point` with a point as data; `event: end` closes a
// session that ended. A client too slow for the live series is cut and may
// reconnect with ?from= to resume.
func (a *API) followMetrics(w http.ResponseWriter, r *http.Request, streamID string, stored []ivs.MetricPoint, live bool, to time.Time) (int, error) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return 0, fmt.Errorf("api: response writer cannot stream")
	}
	var recent []ivs.MetricPoint
	var points <-chan ivs.MetricPoint
	if live && a.metrics != nil {
		// Subscribe before sending the stored points, so none falls between.
		recent, points, live = a.metrics.Subscribe(r.Context(), streamID)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last time.Time
	send := func(p ivs.MetricPoint) bool {
		if !p.Time.After(last) && !last.IsZero() {
			return true
		}
		if !to.IsZero() && !p.Time.Before(to) {
			return true
		}
		last = p.Time
		b, _ := json.Marshal(p) // a point is numbers and a time
		_, err := fmt.Fprintf(w, "event: point\ndata: %s\n\n", b)
		return err == nil
	}
	for _, p := range mergePoints(stored, recent, time.Time{}, time.Time{}) {
		if !send(p) {
			return http.StatusOK, nil
		}
	}
	flusher.Flush()
	if live {
		heartbeat := time.NewTicker(15 * time.Second)
		defer heartbeat.Stop()
	follow:
		for {
			select {
			case p, ok := <-points:
				if !ok {
					break follow
				}
				if !send(p) {
					return http.StatusOK, nil
				}
			case <-heartbeat.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return http.StatusOK, nil
				}
			case <-r.Context().Done():
				return http.StatusOK, nil
			}
			flusher.Flush()
		}
		// The channel closes when the stream ended or when this client fell
		// behind; only an ended stream gets an end message.
		if a.metrics.Live(streamID) {
			return http.StatusOK, nil
		}
	}
	_, _ = fmt.Fprint(w, "event: end\ndata: {}\n\n")
	flusher.Flush()
	return http.StatusOK, nil
}

// mergePoints adds to stored the points of recent that are newer than the
// last stored one and within [from, to).
func mergePoints(stored, recent []ivs.MetricPoint, from, to time.Time) []ivs.MetricPoint {
	var last time.Time
	if n := len(stored); n > 0 {
		last = stored[n-1].Time
	}
	for _, p := range recent {
		if (len(stored) > 0 && !p.Time.After(last)) || (!from.IsZero() && p.Time.Before(from)) ||
			(!to.IsZero() && !p.Time.Before(to)) {
			continue
		}
		stored = append(stored, p)
		last = p.Time
	}
	return stored
}

func queryTime(v, field string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, ivs.Validation(field, "%s must be an ISO-8601 time such as 2026-11-25T10:00:00Z", field)
	}
	return t, nil
}

// usage answers the input and viewer hours of a month (?month=YYYY-MM,
// default the current one).
func (a *API) usage(w http.ResponseWriter, r *http.Request) (int, error) {
	month, err := a.svc.ParseMonth("month", r.URL.Query().Get("month"))
	if err != nil {
		return 0, err
	}
	rep, err := a.svc.Usage(r.Context(), month)
	if err != nil {
		return 0, err
	}
	return writeJSON(w, http.StatusOK, rep), nil
}

// maxChannelInfo bounds one GET /v1/channels: a console page's worth.
const maxChannelInfo = 100

// channelInfoOutput is the answer of GET /v1/channels?id=…: what onair knows
// of a channel that the IVS shapes have no field for.
type channelInfoOutput struct {
	Channels []channelInfo `json:"channels"`
}

type channelInfo struct {
	ARN       string    `json:"arn"`
	CreatedAt time.Time `json:"createdAt"`
}

// channelInfo answers the creation times of the channels named by id (ids
// or ARNs, repeated); ones that do not exist are left out, as a listing
// that raced a delete would.
func (a *API) channelInfo(w http.ResponseWriter, r *http.Request) (int, error) {
	ids := r.URL.Query()["id"]
	if len(ids) == 0 {
		return 0, ivs.Validation("id", "id is required: one or more channel ids or ARNs")
	}
	if len(ids) > maxChannelInfo {
		return 0, ivs.Validation("id", "at most %d ids per request, got %d", maxChannelInfo, len(ids))
	}
	out := channelInfoOutput{Channels: make([]channelInfo, 0, len(ids))}
	for _, id := range ids {
		arn := id
		if !strings.HasPrefix(id, "arn:") {
			arn = ivs.ARN{Region: a.svc.Region(), Account: a.svc.AccountID(), Resource: ivs.ResourceChannel, ID: id}.String()
		}
		c, err := a.svc.GetChannel(r.Context(), arn)
		if err != nil {
			var e *ivs.Error
			if errors.As(err, &e) && e.Code == ivs.CodeResourceNotFound {
				continue
			}
			return 0, err
		}
		out.Channels = append(out.Channels, channelInfo{ARN: c.ARN, CreatedAt: c.CreatedAt.UTC()})
	}
	return writeJSON(w, http.StatusOK, out), nil
}

// previewLifetime is how long the console's playback credential lasts.
const previewLifetime = 12 * time.Hour

type playbackTokenOutput struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// playbackToken gives the signed-in admin a playback session credential for
// a private channel, so the console can preview it without the customer's
// private key: the ?token= of its playback URL, thumbnails and WHEP.
func (a *API) playbackToken(w http.ResponseWriter, r *http.Request) (int, error) {
	if a.playback == nil {
		return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "playback tokens are not enabled"}
	}
	id := r.PathValue("channelId")
	c, err := a.svc.GetChannel(r.Context(), ivs.ARN{Region: a.svc.Region(), Account: a.svc.AccountID(), Resource: ivs.ResourceChannel, ID: id}.String())
	if err != nil {
		return 0, err
	}
	tok, err := a.playback.Seal(r.Context(), c.ID, previewLifetime)
	if err != nil {
		return 0, err
	}
	return writeJSON(w, http.StatusOK, playbackTokenOutput{Token: tok, ExpiresAt: a.now().Add(previewLifetime).UTC()}), nil
}
