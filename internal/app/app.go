// Package app wires onair together: config → store → service → servers. It
// owns the order of start and stop and nothing else: build constructs every
// part with its dependencies and starts nothing, start runs them, and stop
// ends them in an order that loses nothing.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/onair-video/onair/internal/api"
	"github.com/onair-video/onair/internal/chat"
	"github.com/onair-video/onair/internal/cluster"
	"github.com/onair-video/onair/internal/compose"
	"github.com/onair-video/onair/internal/config"
	"github.com/onair-video/onair/internal/events"
	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/geoip"
	"github.com/onair-video/onair/internal/hls"
	"github.com/onair-video/onair/internal/ingest/rtmp"
	"github.com/onair-video/onair/internal/ingest/srt"
	"github.com/onair-video/onair/internal/ingest/whip"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/metrics"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/session"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/internal/stagefeed"
	"github.com/onair-video/onair/internal/stagerecord"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/transcode"
	"github.com/onair-video/onair/internal/webui"
	"github.com/onair-video/onair/internal/whep"
)

// Options are the parts of a run that are not configuration.
type Options struct {
	Version string
	Log     *slog.Logger
	// Stdout receives the start banner; ShowSecret allows the admin secret
	// in it (only when stdout is a terminal: never into a log file).
	Stdout     io.Writer
	ShowSecret bool
}

// shutdownGrace bounds how long a stop waits for publishers and HTTP
// requests to finish.
const shutdownGrace = 5 * time.Second

// Run starts onair and blocks until ctx ends or a server fails, then stops
// it in order.
func Run(ctx context.Context, cfg config.Config, opt Options) error {
	n, err := build(ctx, cfg, opt)
	if err != nil {
		return err
	}
	n.start()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-n.errc:
	}
	n.stop()
	return runErr
}

// node is one onair process: its parts, each built with its dependencies.
type node struct {
	cfg config.Config
	opt Options
	log *slog.Logger
	// cleanups release what build made, last first: after stop, or when
	// build fails halfway.
	cleanups []func()

	// The control plane.
	store    store
	account  ivs.Account
	credPath string
	storage  record.Storage
	bus      *events.Bus
	svc      *ivs.Service
	chatSvc  *ivschat.Service
	rtSvc    *ivsrealtime.Service

	lns  *listeners
	cert tls.Certificate

	// The media plane. whep and whip are nil with WebRTC off.
	registry *live.Registry
	// cluster is this process as a node of a cluster; nil: one process.
	cluster *cluster.Node
	nodeID  string
	// stagesElsewhere: other cluster nodes were live at start, so stages
	// left active are theirs (not ended, compositions not resumed here).
	stagesElsewhere bool
	auth            *playback.Authorizer
	hls             *hls.Server
	whep            *whep.Server
	whip            *whip.Server
	tracker         *session.Tracker
	spool           *record.Spool
	recorder        *record.Recorder
	// stageRec records stages' publishers individually.
	stageRec *stagerecord.Recorder
	thumbs   *transcode.Thumbnails
	// stages is the roster of Stages' participants and their events
	// WebSocket.
	stages *stage.Stages
	// composer runs stage compositions.
	composer *compose.Engine
	// feeds publish encoders (RTMP, SRT) with ingest configurations' keys
	// into stages.
	feeds *stagefeed.Feeds
	// sfuMetrics are the stage SFU's data-path counters, for /metrics.
	sfuMetrics *sfu.Metrics

	// The servers. https, pprof and srt are nil when off.
	chat  *chat.Server
	http  *http.Server
	https *http.Server
	pprof *http.Server
	rtmp  []*rtmp.Server
	srt   *srt.Server
	serve []func() // start runs each in a goroutine
	// serving counts the serve goroutines; errc takes their failures.
	serving sync.WaitGroup
	errc    chan error

	// Background work (webhooks, downsampling, the spool's uploads, GC
	// pacing, SSE streams) lives until the servers stop.
	bgCtx  context.Context
	stopBg context.CancelFunc
	bgRuns []func(context.Context)
	bg     sync.WaitGroup

	// leader runs the cluster-wide singletons (leaders.go).
	leader *events.Observed
}

// build makes every part of a node, in dependency order, and starts
// nothing but what must be there before the first request: listeners
// (so that port 0 resolves) and the store. On an error it releases what
// it made.
func build(ctx context.Context, cfg config.Config, opt Options) (*node, error) {
	n := &node{cfg: cfg, opt: opt, log: opt.Log, errc: make(chan error, 8)}
	n.bgCtx, n.stopBg = context.WithCancel(context.Background())
	for _, step := range []func(context.Context) error{n.buildControl, n.bind, n.buildMedia, n.buildCluster, n.buildServers} {
		if err := step(ctx); err != nil {
			n.stopBg()
			n.cleanup()
			return nil, err
		}
	}
	return n, nil
}

// onCleanup adds fn to what cleanup runs, before everything added earlier.
func (n *node) onCleanup(fn func()) { n.cleanups = append(n.cleanups, fn) }

func (n *node) cleanup() {
	for i := len(n.cleanups) - 1; i >= 0; i-- {
		n.cleanups[i]()
	}
	n.cleanups = nil
}

// buildControl opens the store, makes sure of the account and its
// credentials file, and builds the IVS and IVS Chat services.
func (n *node) buildControl(ctx context.Context) error {
	cfg, log := n.cfg, n.log
	if err := ensureDir(cfg.DataDir); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	n.store = st
	n.onCleanup(func() { _ = st.Close() }) // nothing is left to write
	if err := n.openNode(); err != nil {
		return err
	}
	account, created, err := ivs.EnsureAccount(ctx, st, cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey)
	if err != nil {
		return err
	}
	n.account = account
	if n.credPath, err = writeCredentials(cfg.DataDir, account, cfg.Region); err != nil {
		return err
	}
	if created {
		log.Info("created account", "account", account.ID, "access_key_id", account.AccessKeyID, "credentials", n.credPath)
	}
	// Recordings go to S3 when an endpoint is configured, else a bucket is
	// a directory under DATA_DIR/recordings; a recording configuration is
	// ACTIVE once its bucket takes a write.
	n.storage = recordingStorage(cfg)
	// The bus is the event sink before anything emits, so that the events
	// of sessions ended below reach SSE clients; webhooks read the store.
	n.bus = events.NewBus()
	// The live registry and the WHEP server are built on the service, and
	// the service must tell them of deleted keys and revoked viewers: it
	// gets funcs that reach them through the node, which buildMedia fills
	// before anything is served.
	n.svc = ivs.NewService(ivs.Config{
		Region: cfg.Region, AccountID: account.ID, Stores: ivs.StoresOf(st), Log: log,
		InputQuotaHours: cfg.InputHoursQuota, CheckBucket: n.storage.Check, EventSink: n.bus.Publish,
		StreamKeyDeleted: func(channelID string) {
			if n.cluster != nil {
				n.cluster.StreamKeyDeleted(channelID) // on whichever node publishes it
				return
			}
			n.registry.Disconnect(channelID, live.ErrKeyDeleted)
		},
		ViewerRevoked: func(r ivs.ViewerRevocation) {
			n.revokeLocally(r)
			if n.cluster != nil {
				n.cluster.ViewerRevoked(r)
			}
		},
		CacheChanged: func(kind, id string) {
			if n.cluster != nil {
				n.cluster.CacheChanged(kind, id)
			}
		},
	})
	n.onCleanup(n.svc.Wait) // before the store closes: configurations being activated
	n.chatSvc = ivschat.New(ivschat.Config{Region: cfg.Region, AccountID: account.ID, Docs: st})
	// Stages: the control plane. The events WebSocket's roster verifies
	// joins and records participants through it, and hears of
	// DisconnectParticipant and DeleteStage through its hooks, which reach
	// the roster through the node: buildMedia builds it on the service.
	scope := ivs.Scope{Region: cfg.Region, Account: account.ID}
	hooks := stageHooks(scope, func() *stage.Stages { return n.stages }, func() *ivsrealtime.Service { return n.rtSvc },
		func() *stagefeed.Feeds { return n.feeds }, log)
	// A deleted stage's participant recordings end with it (no reconnect
	// window), before its connections close under them.
	closeStage := hooks.StageDeleted
	hooks.StageDeleted = func(stageID string) {
		if n.stageRec != nil {
			n.stageRec.StageDeleted(scope.ARN(ivsrealtime.ResourceStage, stageID))
		}
		closeStage(stageID)
	}
	n.rtSvc = ivsrealtime.New(ivsrealtime.Config{Region: cfg.Region, AccountID: account.ID, Docs: st, Sessions: st,
		CheckBucket: n.storage.Check, Emit: n.svc.Emit, Hooks: hooks})
	if c, err := n.svc.EndInterruptedSessions(ctx); err != nil {
		return err
	} else if c > 0 {
		log.Info("ended stream sessions interrupted by a stop", "count", c)
	}
	// Stages run on one node of a cluster (docs/cluster.md): what a stop
	// left of them is another live node's to keep.
	if alone, err := n.aloneInCluster(ctx); err != nil || !alone {
		n.stagesElsewhere = true
		if err != nil {
			return err
		}
		log.Info("other cluster nodes are live: their stages' sessions, replications and compositions are left to them")
		return nil
	}
	if c, err := n.rtSvc.EndInterruptedSessions(ctx); err != nil {
		return err
	} else if c > 0 {
		log.Info("ended stage sessions interrupted by a stop", "count", c)
	}
	if c, err := n.rtSvc.EndInterruptedReplications(ctx); err != nil {
		return err
	} else if c > 0 {
		log.Info("stopped participant replications interrupted by a stop", "count", c)
	}
	return nil
}

// bind loads the TLS certificate and binds every listener, so that port 0
// resolves and listeners.json is complete before /healthz answers.
func (n *node) bind(context.Context) error {
	cert, err := loadOrCreateCert(n.cfg.TLSCert, n.cfg.TLSKey, n.cfg.DataDir, n.cfg.PublicHost)
	if err != nil {
		return err
	}
	n.cert = cert
	if n.lns, err = listen(n.cfg); err != nil {
		return err
	}
	n.onCleanup(n.lns.closeAll) // those Shutdown closed already: no harm
	return writeListeners(n.cfg.DataDir, n.lns.addrs())
}

// buildMedia builds the live registry and its consumers: HLS, WebRTC,
// session stats, recording, the ladder and thumbnails.
func (n *node) buildMedia(ctx context.Context) error {
	cfg, log, svc := n.cfg, n.log, n.svc
	n.registry = live.New(svc, log)
	n.registry.SetAdmission(func(ctx context.Context, _ ivs.Channel) error { return svc.CheckInputQuota(ctx) })
	var countries playback.Countries
	if cfg.GeoIPDB != "" {
		db, err := geoip.Open(cfg.GeoIPDB)
		if err != nil {
			return fmt.Errorf("--geoip-db: %w", err)
		}
		n.onCleanup(func() { _ = db.Close() })
		countries = db
	}
	n.auth = playback.New(svc, countries)
	// In a cluster, the HLS server is also an edge of the other nodes'
	// streams, and their origin: requests between nodes carry an HMAC of
	// the cluster's secret.
	var clusterSecret []byte
	var origins hls.Origins
	if n.clustered() {
		var err error
		if clusterSecret, err = n.svc.ClusterSecret(ctx); err != nil {
			return err
		}
		origins = hlsOrigins{n}
	}
	n.hls = hls.New(hls.Config{Log: log, PartDuration: cfg.HLSPartDuration, SegmentDuration: cfg.HLSSegmentDuration,
		ViewerTimeout: cfg.HLSViewerTimeout, Auth: n.auth, ClusterSecret: clusterSecret, Origins: origins,
		EdgeCacheBytes: cfg.EdgeCacheSize})
	n.onCleanup(n.hls.Close)
	var stageMedia sfu.PeerConnector // stage media needs WebRTC too
	if n.lns.webrtcUDP != nil {
		engine, err := rtc.NewEngine(rtc.EngineConfig{UDP: n.lns.webrtcUDP, TCP: n.lns.webrtcTCP,
			PublicIPs: publicIPs(cfg.PublicHost), Log: log})
		if err != nil {
			return err
		}
		n.onCleanup(engine.Close)
		n.whep = whep.New(whep.Config{Engine: engine, Streams: n.registry, Log: log, Auth: n.auth})
		n.onCleanup(n.whep.Close)
		n.whip = whip.New(whip.Config{Engine: engine, Registry: n.registry, Log: log})
		n.onCleanup(n.whip.Close)
		stageMedia = engine
	}
	// Stages' signalling: the events WebSocket and the roster, recording
	// participants and sessions through the control plane. Its Close
	// records the last leaves, so it runs before the store closes.
	// A stage is watched for publishers to record once a participant
	// joins it (stageRec is built below, before anything is served).
	control := stageControl{svc: n.rtSvc, log: log, joined: func(stageARN string) { n.stageRec.StageActive(stageARN) }}
	// Its WHIP routes feed one SFU room per stage; its Close closes them,
	// before the engine (cleanups run in reverse).
	n.sfuMetrics = &sfu.Metrics{}
	n.stages = stage.New(stage.Config{Auth: control, Lifecycle: control, Log: log, Media: stageMedia,
		MediaMetrics: n.sfuMetrics})
	n.onCleanup(n.stages.Close)
	// Ingest configurations' stream keys publish into stages through the
	// registry; the feeds end before the roster (cleanups run in reverse).
	n.feeds = stagefeed.New(stagefeed.Config{Domain: ingestControl{n.rtSvc}, Roster: n.stages, Log: log})
	n.onCleanup(n.feeds.Close)
	n.registry.SetStageIngest(n.feeds)
	n.tracker = session.New(session.Config{Store: n.store, Events: svc, Log: log, Viewers: n.allViewers,
		EnforceLimits: cfg.EnforceLimits})
	n.registry.AddConsumer(n.tracker)
	n.registry.AddConsumer(n.hls)
	// Recording: objects go through the spool (DATA_DIR/spool), which
	// uploads them in order and resumes after a restart.
	spool, err := record.OpenSpool(filepath.Join(cfg.DataDir, "spool"), n.storage, cfg.RecordingSpoolSize, log)
	if err != nil {
		return err
	}
	n.spool = spool
	n.bgRuns = append(n.bgRuns, spool.Run)
	n.recorder = record.New(record.Config{Configs: svc, Spool: spool, Events: svc, Log: log, Account: n.account.ID,
		Thumbnail: ffmpeg.KeyframeJPEG, JournalDir: filepath.Join(cfg.DataDir, "recordings-open"),
		Rows: n.recordingRows(), NodeID: n.nodeID, LeaseTTL: cfg.ClusterLeaseTTL, OrphanGrace: cfg.RecordingOrphanGrace})
	n.bgRuns = append(n.bgRuns, n.recorder.Run) // in a cluster: rows and the orphan finisher
	// Recordings a crash left open are finished before anything records.
	if c, err := n.recorder.Recover(); err != nil {
		return err
	} else if c > 0 {
		log.Info("finished recordings interrupted by a stop", "count", c)
	}
	n.registry.AddConsumer(n.recorder)
	// Stages' publishers, each recorded on its own when its stage says so,
	// through the same spool.
	n.stageRec = stagerecord.New(stagerecord.Config{Media: n.stages, Control: n.rtSvc, Spool: spool,
		JournalDir: filepath.Join(cfg.DataDir, "participant-recordings-open"), Thumbnail: ffmpeg.KeyframeJPEG, Log: log})
	if c, err := n.stageRec.Recover(context.Background()); err != nil {
		return err
	} else if c > 0 {
		log.Info("finished participant recordings interrupted by a stop", "count", c)
	}
	// STANDARD channels' ABR ladder; its renditions are served by hls and
	// recorded.
	n.registry.AddConsumer(transcode.NewLadders(transcode.LadderConfig{
		Renditions: renditionSinks{n.hls, n.recorder}, Events: svc, Log: log}))
	n.thumbs = transcode.NewThumbnails(cfg.ThumbnailInterval, log)
	n.registry.AddConsumer(n.thumbs)
	// Stage compositions publish into channels as encoders do; those that
	// ran when the server stopped run again.
	n.composer = compose.New(compose.Config{Stage: composeStages{n.stages}, Channels: svc, Live: n.registry,
		Reporter: n.rtSvc, Record: compositeRecording(n.spool, log), Log: log})
	n.rtSvc.SetCompositor(compositor{n.composer})
	if n.stagesElsewhere {
		return nil
	}
	if err := n.rtSvc.ResumeCompositions(ctx); err != nil {
		log.Error("resume compositions", "err", err)
	}
	return nil
}

// viewers counts a channel's viewers: its HLS players and WebRTC peers.
func (n *node) viewers(channelID string) int {
	c := n.hls.Viewers(channelID)
	if n.whep != nil {
		c += n.whep.Viewers(channelID)
	}
	return c
}

// buildServers builds the background work, the HTTP surface and the
// ingest servers on the bound listeners.
func (n *node) buildServers(context.Context) error {
	cfg, log := n.cfg, n.log
	hooks := make([]events.Webhook, len(cfg.Webhooks))
	for i, w := range cfg.Webhooks {
		hooks[i] = events.Webhook{Name: w.Name, URL: w.URL, Secret: w.Secret}
	}
	var leaderRuns []func(context.Context)
	n.leader, leaderRuns = n.leadership()
	dispatcher := events.NewDispatcher(events.DispatcherConfig{Store: n.store, Bus: n.bus, Webhooks: hooks, Log: log, Leader: n.leader})
	n.bgRuns = append(n.bgRuns, dispatcher.Run,
		func(ctx context.Context) {
			n.leader.Lead(ctx, "downsample", func(ctx context.Context) {
				session.RunDownsampler(ctx, n.store, cfg.StatsDownsampleAfter, log)
			})
		},
		tuneGC)
	n.bgRuns = append(n.bgRuns, leaderRuns...)

	// IVS Chat's messaging: clients connect to ws(s)://{host}/chat with a
	// token from CreateChatToken as the WebSocket subprotocol. Chat logs go
	// where recordings go (S3 or the data dir), through the same durable
	// spool.
	n.chat = chat.New(n.chatConfig(chat.Config{Rooms: n.chatSvc, Log: log, PutLog: n.spool.Put}))
	routes := n.routes()
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          httpErrorLog(log),
		}
	}
	n.http = newServer(routes)
	if n.clustered() {
		hls.ConfigureOriginServer(n.http) // edges reach it over cleartext HTTP/2
	}
	n.addServe("http", func() error { return n.http.Serve(n.lns.http) })
	if n.lns.https != nil {
		// The same surface over TLS, with RTMPS's certificate: pages and
		// playback for https sites, and the IVS Web Broadcast SDK's offer,
		// which it posts to https endpoints only.
		h := routes
		if n.whip != nil {
			h = n.whip.WithOffer(routes)
		}
		n.https = newServer(h)
		n.https.TLSConfig = &tls.Config{Certificates: []tls.Certificate{n.cert}, MinVersion: tls.VersionTLS12}
		n.addServe("https", func() error { return n.https.ServeTLS(n.lns.https, "", "") })
	}
	if n.lns.pprof != nil {
		// Its own listener and mux: the profiler is never on the public
		// port, and the default mux is not used elsewhere.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		n.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		n.addServe("pprof", func() error { return n.pprof.Serve(n.lns.pprof) })
	}
	if n.lns.rtmp != nil {
		s := rtmp.New(rtmp.Config{Registry: n.registry, Log: log, Protocol: "rtmp"})
		n.rtmp = append(n.rtmp, s)
		n.addServe("rtmp", func() error { return s.Serve(n.lns.rtmp) })
	}
	if n.lns.rtmps != nil {
		s := rtmp.New(rtmp.Config{Registry: n.registry, Log: log, Protocol: "rtmps"})
		n.rtmp = append(n.rtmp, s)
		tlsLn := tls.NewListener(n.lns.rtmps, &tls.Config{Certificates: []tls.Certificate{n.cert}, MinVersion: tls.VersionTLS12})
		n.addServe("rtmps", func() error { return s.Serve(tlsLn) })
	}
	if n.lns.srt != nil {
		n.srt = srt.New(srt.Config{Registry: n.registry, Log: log})
		n.addServe("srt", func() error { return n.srt.Serve(n.lns.srt) })
	}
	return nil
}

// routes is the HTTP surface: the IVS API, chat, playback, WebRTC, metrics
// and the pages.
func (n *node) routes() http.Handler {
	cfg := n.cfg
	ports := n.lns.ports()
	endpoints := func(r *http.Request) ivs.Endpoints {
		return ivs.Endpoints{
			Host: publicHost(cfg.PublicHost, r), HTTPPort: ports["http"], RTMPSPort: ports["rtmps"], RTMPPort: ports["rtmp"],
			SRTPort: ports["srt"], Region: cfg.Region, Account: n.account.ID,
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /chat", n.chat)
	// The stage events WebSocket, at each stage's endpoints.events (on
	// both listeners: which one a token names depends on HTTPS being on).
	mux.Handle("GET "+ivsrealtime.EventsPath, n.stages)
	mux.Handle("GET "+ivsrealtime.EventsPath+"/{topic}", n.stages)
	// Stage media: WHIP publish and subscribe into the SFU.
	n.stages.RegisterWHIP(mux, ivsrealtime.WHIPPath)
	// Stage endpoints are on the HTTPS listener when it is on (browsers on
	// https pages need wss:// and https://), else on the HTTP listener.
	stageEndpoints := func(r *http.Request) ivsrealtime.Endpoints {
		host := publicHost(cfg.PublicHost, r)
		return ivsrealtime.EndpointsFor(host, ports["https"], ports["http"]).WithIngest(host, ports["rtmp"], ports["rtmps"])
	}
	api.New(api.Config{Service: n.svc, ChatService: n.chatSvc, RealtimeService: n.rtSvc, StageEndpoints: stageEndpoints,
		Live: n.apiLive(), Account: n.account, Endpoints: endpoints,
		Log: n.log, Viewers: n.allViewers, Metrics: n.tracker, Cluster: n.clusterInfo(), Events: events.NewSSE(n.bgCtx, n.store, n.bus, n.log),
		RateLimit: cfg.APIRateLimit, Playback: n.auth, Chat: n.chat}).Register(mux)
	// Methods are named so the patterns don't conflict with "GET /"; HEAD
	// rides on GET, OPTIONS answers CORS preflights.
	mux.Handle("GET /api/video/v1/", n.hls)
	if n.clustered() {
		mux.Handle("GET "+hls.InternalPathPrefix, n.hls.InternalHandler())
	}
	mux.Handle("GET /api/video/v1/{channelId}/thumb.jpg", n.thumbnails())
	mux.Handle("OPTIONS /api/video/v1/", n.hls)
	if n.whep != nil {
		n.registerWHEP(mux)
		n.whip.Register(mux)
	}
	mux.Handle("GET /metrics", metrics.New(metrics.Config{Streams: n.registry, Sessions: n.tracker, Playback: n.hls, Readers: n.registry,
		SFU: n.sfuMetrics, Cluster: n.clusterStats(), Leaders: n.leader}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /", webui.Handler(webui.Info{Version: n.opt.Version, Region: cfg.Region, Account: n.account.ID,
		RTMPPort: ports["rtmp"], RTMPSPort: ports["rtmps"], HTTPSPort: n.webBroadcastPort(ports)}))
	return mux
}

// webBroadcastPort is the HTTPS port the IVS Web Broadcast SDK posts its
// offer to: none without HTTPS or WebRTC.
func (n *node) webBroadcastPort(ports map[string]int) int {
	if n.whip == nil {
		return 0
	}
	return ports["https"]
}

// addServe adds a server's serve loop for start; its failure ends Run.
func (n *node) addServe(name string, fn func() error) {
	n.serve = append(n.serve, func() {
		if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case n.errc <- fmt.Errorf("%s: %w", name, err):
			default: // Run already stops for an earlier one
			}
		}
	})
}

// start runs the background work and the servers, and says where they are.
func (n *node) start() {
	for _, run := range n.bgRuns {
		n.bg.Add(1)
		go func() { defer n.bg.Done(); run(n.bgCtx) }()
	}
	for _, serve := range n.serve {
		n.serving.Add(1)
		go func() { defer n.serving.Done(); serve() }()
	}
	for name, addr := range n.lns.addrs() {
		n.log.Info("listening", "listener", name, "addr", addr)
	}
	printBanner(n.opt, n.cfg, n.lns, n.account, n.credPath)
}

// stop ends the node in order, within shutdownGrace where anything waits
// on a peer, then releases what build made.
func (n *node) stop() {
	n.log.Info("stopping")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Publishers first, so that their sessions end cleanly in the store,
	// then the listeners and the HTTP requests in flight.
	n.composer.Close() // compositions are publishers too; they resume at the next start
	n.registry.Close(ctx)
	n.feeds.Close()    // each ended with its encoder's connection
	n.recorder.Close() // recordings waiting out a reconnect window end now
	n.stageRec.Close() // the same for participants', before their taps go
	// Chat sessions end (hijacked connections: Shutdown does not wait for
	// them) and the last chat logs are spooled.
	n.chat.Close()
	// Stage participants are told the server is stopping (hijacked
	// connections too) and their leaves are recorded.
	n.stages.Close()
	// What they wrote last reaches storage before the spool stops, within
	// the grace period; the rest waits in DATA_DIR/spool for the next start.
	select {
	case <-n.spool.Drained():
	case <-ctx.Done():
		c, size := n.spool.Pending()
		n.log.Warn("recording objects left in the spool; they upload at the next start", "objects", c, "bytes", size)
	}
	for _, s := range n.rtmp {
		_ = s.Close() // Close errors are closed-listener noise at shutdown
	}
	if n.srt != nil {
		_ = n.srt.Close()
	}
	n.hls.Close() // releases blocked playlist requests
	n.stopBg()    // ends SSE streams, so Shutdown need not wait them out
	for _, srv := range []*http.Server{n.http, n.https} {
		if srv != nil && srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	}
	if n.pprof != nil {
		_ = n.pprof.Close() // a profile being taken is cut short
	}
	n.serving.Wait()
	n.bg.Wait()
	n.cleanup()
}

// recordingStorage is S3 when --s3-endpoint is set, else the data dir.
func recordingStorage(cfg config.Config) record.Storage {
	if cfg.S3Endpoint == "" {
		return record.Local{Root: filepath.Join(cfg.DataDir, "recordings")}
	}
	return record.S3{Client: s3.New(s3.Options{
		BaseEndpoint: aws.String(cfg.S3Endpoint),
		Region:       cfg.S3Region,
		UsePathStyle: true, // what every S3-compatible server serves
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.S3AccessKeyID, cfg.S3SecretAccessKey, ""),
	})}
}

// renditionSinks hands each transcoded rendition to several sinks.
type renditionSinks []transcode.Renditions

func (rs renditionSinks) AddRendition(st *live.Stream, name string, hub *stream.Hub) func() {
	removes := make([]func(), len(rs))
	for i, r := range rs {
		removes[i] = r.AddRendition(st, name, hub)
	}
	return func() {
		for _, rm := range removes {
			rm()
		}
	}
}
