// Package api puts the IVS control plane on the wire: REST-JSON requests
// signed with SigV4, routed as POST /{Operation} (and /tags/{resourceArn}),
// answered with IVS's JSON shapes and its error shape, so that the AWS SDKs
// and the aws CLI work unchanged against onair.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/ratelimit"
)

// MaxBodyBytes bounds a request body. IVS inputs are small (the largest,
// PutMetadata, carries 1 KB); 1 MiB leaves room for 50 tags on 50 ARNs.
const MaxBodyBytes = 1 << 20

// SigV4 service names: IVS and IVS Chat share the endpoint, the account's
// key pair and the wire; each operation is signed for its own service.
const (
	signingName     = "ivs"
	chatSigningName = "ivschat"
)

// Live is what the API needs of the live streams: live.Local for one
// process, the cluster's view across nodes.
type Live interface {
	Get(ctx context.Context, channelID string) (live.StreamInfo, bool, error)
	List(ctx context.Context) ([]live.StreamInfo, error)
	// Stop cuts a channel's publisher off; live.ErrNotLive when it has none.
	Stop(ctx context.Context, channelID string) error
	// PutMetadata inserts timed metadata into a channel's live stream;
	// live.ErrNotLive when it has none.
	PutMetadata(ctx context.Context, channelID string, data []byte) error
}

// Config holds the dependencies of an API.
type Config struct {
	Service *ivs.Service
	// ChatService serves the IVS Chat operations (rooms, logging
	// configurations, chat tokens, and the tags of those). Required, as
	// Service is.
	ChatService *ivschat.Service
	// RealtimeService serves the Stages operations (IVS Real-Time) and the
	// tags of their resources; nil refuses them.
	RealtimeService *ivsrealtime.Service
	// StageEndpoints gives the stage endpoints (events, whip) for a
	// request's responses and tokens.
	StageEndpoints func(*http.Request) ivsrealtime.Endpoints
	Live           Live
	// Account holds the key pair requests must be signed with.
	Account ivs.Account
	// Endpoints gives the public addresses for a request's responses.
	Endpoints func(*http.Request) ivs.Endpoints
	Log       *slog.Logger
	// Viewers returns a channel's concurrent viewers; nil counts none.
	Viewers func(channelID string) int
	// Metrics gives the in-memory series of live sessions; nil serves the
	// stored series only.
	Metrics Metrics
	// Events streams the event log as SSE at GET /v1/events; nil: 404.
	Events http.Handler
	// RateLimit is the requests a second one client address may make,
	// with bursts of twice that; 0 is no limit.
	RateLimit float64
	// Playback seals playback session credentials for the console's
	// preview of private channels, and decides who may read a channel's
	// chat; nil: those extensions answer 404.
	Playback Playback
	// Cluster answers GET /v1/cluster with the cluster's nodes; nil: this
	// onair is not a cluster (404).
	Cluster func(ctx context.Context) (any, error)
	// Chat is the messaging service, for SendEvent, DeleteMessage and
	// DisconnectUser; nil: those answer ValidationException.
	Chat Messaging
}

// Messaging is what the chat operations need of the messaging service;
// *chat.Server implements it.
type Messaging interface {
	// The errors are a cluster's: the room's home node out of reach.
	SendEventErr(ctx context.Context, roomID, name string, attributes map[string]string) (string, error)
	DeleteMessageErr(ctx context.Context, roomID, messageID, reason, requestID string) (string, error)
	DisconnectUserErr(ctx context.Context, roomID, userID, reason, requestID string) error
	CloseRoom(roomID string)
}

// Playback issues playback session credentials and authorizes viewers;
// *playback.Authorizer implements it.
type Playback interface {
	Seal(ctx context.Context, channelID string, lifetime time.Duration) (string, error)
	Authorize(ctx context.Context, r playback.Request) (playback.Grant, error)
}

// Metrics is what the API needs of the session tracker; *session.Tracker
// implements it.
type Metrics interface {
	Recent(streamID string) []ivs.MetricPoint
	Live(streamID string) bool
	Subscribe(ctx context.Context, streamID string) (recent []ivs.MetricPoint, points <-chan ivs.MetricPoint, ok bool)
}

// API serves the IVS operations.
type API struct {
	svc       *ivs.Service
	chatSvc   *ivschat.Service
	rtSvc     *ivsrealtime.Service
	stageEps  func(*http.Request) ivsrealtime.Endpoints
	live      Live
	endpoints func(*http.Request) ivs.Endpoints
	log       *slog.Logger
	verifiers map[string]*verifier // by service
	ops       map[string]*operation
	now       func() time.Time
	viewers   func(channelID string) int
	metrics   Metrics
	events    http.Handler
	cluster   func(ctx context.Context) (any, error)
	// limits is a request budget per client address; nil: no limit.
	limits   *ratelimit.Table
	playback Playback
	chat     Messaging
	// viewerChat is the budget of viewers' chat tokens per address.
	viewerChat *ratelimit.Table
	// PutMetadata's budgets, as IVS's.
	metadataPerChannel, metadataPerAccount *ratelimit.Table
}

// New returns an API. It starts nothing.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{
		svc:       cfg.Service,
		chatSvc:   cfg.ChatService,
		rtSvc:     cfg.RealtimeService,
		stageEps:  cfg.StageEndpoints,
		live:      cfg.Live,
		endpoints: cfg.Endpoints,
		log:       cfg.Log.With("component", "api"),
		verifiers: map[string]*verifier{
			signingName:     newVerifier(cfg.Account.AccessKeyID, cfg.Account.SecretAccessKey.Reveal(), signingName),
			chatSigningName: newVerifier(cfg.Account.AccessKeyID, cfg.Account.SecretAccessKey.Reveal(), chatSigningName),
		},
		ops:      make(map[string]*operation),
		now:      time.Now,
		viewers:  cfg.Viewers,
		metrics:  cfg.Metrics,
		events:   cfg.Events,
		cluster:  cfg.Cluster,
		playback: cfg.Playback,
		chat:     cfg.Chat,

		viewerChat: viewerChatTokens(),

		metadataPerChannel: ratelimit.PerSecond(metadataPerSecond, metadataPerSecond),
		metadataPerAccount: ratelimit.PerSecond(metadataAccount, metadataAccount),
	}
	if a.viewers == nil {
		a.viewers = func(string) int { return 0 }
	}
	for _, ops := range [][]*operation{operations(), chatOperations(), realtimeOperations()} {
		for _, op := range ops {
			if _, dup := a.ops[op.Name]; dup {
				// The services share one path space: a name may be taken once.
				panic("api: operation " + op.Name + " is in two services")
			}
			a.ops[op.Name] = op
		}
	}
	if cfg.RateLimit > 0 {
		a.limits = ratelimit.PerSecond(cfg.RateLimit, max(10, int(2*cfg.RateLimit)))
	}
	return a
}

// Register mounts the API on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /{operation}", func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, r.PathValue("operation"))
	})
	mux.HandleFunc("GET /tags/{resourceArn}", func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, "ListTagsForResource")
	})
	mux.HandleFunc("POST /tags/{resourceArn}", func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, "TagResource")
	})
	mux.HandleFunc("DELETE /tags/{resourceArn}", func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, "UntagResource")
	})
	a.registerExtensions(mux)
	a.registerViewerChat(mux)
}

// call is one request to an operation, as a handler sees it.
type call struct {
	r    *http.Request
	body []byte
}

// serve authenticates, decodes, runs and answers one request, and logs it.
func (a *API) serve(w http.ResponseWriter, r *http.Request, name string) {
	service := a.serviceOf(r, name)
	a.run(w, r, name, service, func(w http.ResponseWriter, r *http.Request) (int, error) { return a.handle(w, r, name, service) })
}

// serviceOf is the service a request is for: its operation's, or for the
// tag operations, which both services have at the same path, the service
// of the resource ARN.
func (a *API) serviceOf(r *http.Request, name string) string {
	if op, ok := a.ops[name]; ok && op.service != "" {
		return op.service
	}
	if isChatARN(r.PathValue("resourceArn")) {
		return chatSigningName
	}
	return signingName
}

// isChatARN tells an IVS Chat resource's ARN (as far as it parses).
func isChatARN(arn string) bool { return strings.HasPrefix(arn, "arn:aws:"+chatSigningName+":") }

// run runs fn as the operation name of service with a request id, answers
// its error in that service's AWS shape and logs the outcome.
func (a *API) run(w http.ResponseWriter, r *http.Request, name, service string, fn func(http.ResponseWriter, *http.Request) (int, error)) {
	start := a.now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	var status int
	var err error
	// Counted before the signature is checked: a flood of unsigned or
	// badly signed requests is as costly as a signed one.
	if a.limits != nil && !a.limits.Allow(ratelimit.Host(r.RemoteAddr)) {
		err = &ivs.Error{Code: ivs.CodeThrottling, Message: "Rate exceeded: too many requests from this client address"}
	} else {
		status, err = fn(w, r)
	}
	if err != nil {
		// The error table alone decides the status of a failure.
		we, internal := toWire(err)
		if service == chatSigningName {
			we.chat = chatFields(err, we)
		}
		writeError(w, we)
		log := a.log.With("op", name, "request_id", reqID, "status", we.status, "duration", a.now().Sub(start))
		if internal {
			log.Error("request failed", "err", err)
			return
		}
		if we.code == string(ivs.CodeThrottling) {
			// A flood must not become a flood of log lines.
			log.Debug("request refused", "code", we.code)
			return
		}
		log.Info("request refused", "code", we.code, "msg", we.message)
		return
	}
	a.log.Debug("request", "op", name, "request_id", reqID, "status", status, "duration", a.now().Sub(start))
}

// handle does the work of serve: it returns the status it wrote, or the
// error for serve to write.
func (a *API) handle(w http.ResponseWriter, r *http.Request, name, service string) (int, error) {
	body, err := a.authenticate(w, r, service)
	if err != nil {
		return 0, err
	}
	op, ok := a.ops[name]
	if !ok {
		return 0, unknownOpError{name}
	}
	if op.handler == nil {
		return 0, ivs.Validation("", "%s is not supported by this onair server yet; see docs/api-compat.md", name)
	}
	out, err := op.handler(r.Context(), a, &call{r: r, body: body})
	if err != nil {
		return 0, err
	}
	return writeJSON(w, op.status, out), nil
}

// authenticate checks the request's SigV4 signature for service and
// returns its body.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request, service string) ([]byte, error) {
	v := a.verifiers[service]
	auth, signed, err := v.preflight(r)
	if err != nil {
		return nil, err
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	if err := v.verify(r.Context(), r, auth, signed, body); err != nil {
		return nil, err
	}
	return body, nil
}

// readBody reads at most MaxBodyBytes of the body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, ivs.Validation("", "the request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, MaxBodyBytes)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, ivs.Validation("", "the request body exceeds the limit of %d bytes", MaxBodyBytes)
	case err != nil:
		return nil, ivs.Validation("", "reading the request body: %v", err)
	}
	return b, nil
}

// writeJSON answers with out as JSON (no body for 204) and returns the status.
func writeJSON(w http.ResponseWriter, status int, out any) int {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return status
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		// Outputs are plain structs of strings, numbers and maps.
		panic("api: marshal output: " + err.Error())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}

// handlerFunc runs one operation.
type handlerFunc func(ctx context.Context, a *API, c *call) (any, error)

// typed adapts a handler of a decoded input type.
func typed[In any](fn func(ctx context.Context, a *API, c *call, in *In) (any, error)) handlerFunc {
	return func(ctx context.Context, a *API, c *call) (any, error) {
		in := new(In)
		if err := decodeBody(c.body, in); err != nil {
			return nil, err
		}
		return fn(ctx, a, c, in)
	}
}
