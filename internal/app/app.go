// Package app wires onair together: config → store → service → servers. It
// owns the order of start and stop and nothing else.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/internal/api"
	"github.com/onair-video/onair/internal/chat"
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
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/metrics"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/session"
	"github.com/onair-video/onair/internal/store/sqlite"
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

// Run starts onair and blocks until ctx ends, then stops it in order.
func Run(ctx context.Context, cfg config.Config, opt Options) error {
	log := opt.Log
	if err := ensureDir(cfg.DataDir); err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()

	account, created, err := ivs.EnsureAccount(ctx, store, cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey)
	if err != nil {
		return err
	}
	credPath, err := writeCredentials(cfg.DataDir, account, cfg.Region)
	if err != nil {
		return err
	}
	if created {
		log.Info("created account", "account", account.ID, "access_key_id", account.AccessKeyID, "credentials", credPath)
	}
	// Recordings go to S3 when an endpoint is configured, else a bucket is
	// a directory under DATA_DIR/recordings; a recording configuration is
	// ACTIVE once its bucket takes a write.
	storage := recordingStorage(cfg)
	// The bus is the event sink before anything emits, so that the events
	// of sessions ended below reach SSE clients; webhooks read the store.
	bus := events.NewBus()
	// The live registry and the WHEP server are built on the service, and
	// the service must tell them of deleted keys and revoked viewers: it
	// gets funcs that call them, set below before anything is served.
	var registry *live.Registry
	var whepSrv *whep.Server
	svc := ivs.NewService(ivs.Config{
		Region: cfg.Region, AccountID: account.ID, Stores: ivs.StoresOf(store), Log: log,
		InputQuotaHours: cfg.InputHoursQuota, CheckBucket: storage.Check, EventSink: bus.Publish,
		StreamKeyDeleted: func(channelID string) { registry.Disconnect(channelID, live.ErrKeyDeleted) },
		ViewerRevoked: func(r ivs.ViewerRevocation) {
			if whepSrv != nil {
				whepSrv.Revoke(r.ChannelID, r.ViewerID, r.Version)
			}
		},
	})
	defer svc.Wait() // before the store closes: configurations being activated
	chatSvc := ivschat.New(ivschat.Config{Region: cfg.Region, AccountID: account.ID, Docs: store})
	if n, err := svc.EndInterruptedSessions(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Info("ended stream sessions interrupted by a stop", "count", n)
	}

	cert, err := loadOrCreateCert(cfg.TLSCert, cfg.TLSKey, cfg.DataDir, cfg.PublicHost)
	if err != nil {
		return err
	}

	lns, err := listen(cfg)
	if err != nil {
		return err
	}
	defer lns.closeAll()
	if err := writeListeners(cfg.DataDir, lns.addrs()); err != nil {
		return err
	}

	// Background work (webhooks, downsampling, GC pacing) lives until the
	// servers stop.
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() {
		stopBackground()
		bg.Wait()
	}()
	hooks := make([]events.Webhook, len(cfg.Webhooks))
	for i, w := range cfg.Webhooks {
		hooks[i] = events.Webhook{Name: w.Name, URL: w.URL, Secret: w.Secret}
	}
	dispatcher := events.NewDispatcher(events.DispatcherConfig{Store: store, Bus: bus, Webhooks: hooks, Log: log})
	bg.Add(3)
	go func() { defer bg.Done(); dispatcher.Run(bgCtx) }()
	go func() { defer bg.Done(); session.RunDownsampler(bgCtx, store, cfg.StatsDownsampleAfter, log) }()
	go func() { defer bg.Done(); tuneGC(bgCtx) }()

	registry = live.New(svc, log)
	registry.SetAdmission(func(ctx context.Context, _ ivs.Channel) error { return svc.CheckInputQuota(ctx) })
	var countries playback.Countries
	if cfg.GeoIPDB != "" {
		db, err := geoip.Open(cfg.GeoIPDB)
		if err != nil {
			return fmt.Errorf("--geoip-db: %w", err)
		}
		defer db.Close()
		countries = db
	}
	auth := playback.New(svc, countries)
	hlsSrv := hls.New(hls.Config{Log: log, PartDuration: cfg.HLSPartDuration, SegmentDuration: cfg.HLSSegmentDuration,
		ViewerTimeout: cfg.HLSViewerTimeout, Auth: auth})
	defer hlsSrv.Close()
	var whipSrv *whip.Server
	if lns.webrtcUDP != nil {
		engine, err := rtc.NewEngine(rtc.EngineConfig{UDP: lns.webrtcUDP, TCP: lns.webrtcTCP,
			PublicIPs: publicIPs(cfg.PublicHost), Log: log})
		if err != nil {
			return err
		}
		defer engine.Close()
		whepSrv = whep.New(whep.Config{Engine: engine, Streams: registry, Log: log, Auth: auth})
		defer whepSrv.Close()
		whipSrv = whip.New(whip.Config{Engine: engine, Registry: registry, Log: log})
		defer whipSrv.Close()
	}
	// A channel's viewers are its HLS players and its WebRTC peers.
	viewers := func(channelID string) int {
		n := hlsSrv.Viewers(channelID)
		if whepSrv != nil {
			n += whepSrv.Viewers(channelID)
		}
		return n
	}
	tracker := session.New(session.Config{Store: store, Events: svc, Log: log, Viewers: viewers,
		EnforceLimits: cfg.EnforceLimits})
	registry.AddConsumer(tracker)
	registry.AddConsumer(hlsSrv)
	// Recording: objects go through the spool (DATA_DIR/spool), which
	// uploads them in order and resumes after a restart.
	spool, err := record.OpenSpool(filepath.Join(cfg.DataDir, "spool"), storage, cfg.RecordingSpoolSize, log)
	if err != nil {
		return err
	}
	bg.Add(1)
	go func() { defer bg.Done(); spool.Run(bgCtx) }()
	recorder := record.New(record.Config{Configs: svc, Spool: spool, Events: svc, Log: log, Account: account.ID,
		Thumbnail: ffmpeg.KeyframeJPEG, JournalDir: filepath.Join(cfg.DataDir, "recordings-open")})
	// Recordings a crash left open are finished before anything records.
	if n, err := recorder.Recover(); err != nil {
		return err
	} else if n > 0 {
		log.Info("finished recordings interrupted by a stop", "count", n)
	}
	registry.AddConsumer(recorder)
	// STANDARD channels' ABR ladder; its renditions are served by hlsSrv
	// and recorded.
	registry.AddConsumer(transcode.NewLadders(transcode.LadderConfig{
		Renditions: renditionSinks{hlsSrv, recorder}, Events: svc, Log: log}))
	thumbs := transcode.NewThumbnails(cfg.ThumbnailInterval, log)
	registry.AddConsumer(thumbs)

	ports := lns.ports()
	endpoints := func(r *http.Request) ivs.Endpoints {
		return ivs.Endpoints{
			Host: publicHost(cfg.PublicHost, r), HTTPPort: ports["http"], RTMPSPort: ports["rtmps"], RTMPPort: ports["rtmp"],
			SRTPort: ports["srt"], Region: cfg.Region, Account: account.ID,
		}
	}
	// IVS Chat's messaging: clients connect to ws(s)://{host}/chat with a
	// token from CreateChatToken as the WebSocket subprotocol.
	// Chat logs go where recordings go (S3 or the data dir), through the
	// same durable spool.
	chatSrv := chat.New(chat.Config{Rooms: chatSvc, Log: log, PutLog: spool.Put})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", chatSrv)
	api.New(api.Config{Service: svc, ChatService: chatSvc, Live: registry, Account: account, Endpoints: endpoints, Log: log,
		Viewers: viewers, Metrics: tracker, Events: events.NewSSE(bgCtx, store, bus, log), RateLimit: cfg.APIRateLimit,
		Playback: auth, Chat: chatSrv}).Register(mux)
	// Methods are named so the patterns don't conflict with "GET /"; HEAD
	// rides on GET, OPTIONS answers CORS preflights.
	mux.Handle("GET /api/video/v1/", hlsSrv)
	mux.Handle("GET /api/video/v1/{channelId}/thumb.jpg", auth.Guard(thumbs))
	mux.Handle("OPTIONS /api/video/v1/", hlsSrv)
	if whepSrv != nil {
		whepSrv.Register(mux)
		whipSrv.Register(mux)
	}
	mux.Handle("GET /metrics", metrics.New(metrics.Config{Streams: registry, Sessions: tracker, Playback: hlsSrv}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /", webui.Handler(webui.Info{Version: opt.Version, Region: cfg.Region, Account: account.ID,
		RTMPPort: ports["rtmp"], RTMPSPort: ports["rtmps"]}))

	httpSrv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	var rtmpSrvs []*rtmp.Server
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	serve := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	serve("http", func() error { return httpSrv.Serve(lns.http) })
	if lns.rtmp != nil {
		s := rtmp.New(rtmp.Config{Registry: registry, Log: log, Protocol: "rtmp"})
		rtmpSrvs = append(rtmpSrvs, s)
		serve("rtmp", func() error { return s.Serve(lns.rtmp) })
	}
	if lns.rtmps != nil {
		s := rtmp.New(rtmp.Config{Registry: registry, Log: log, Protocol: "rtmps"})
		rtmpSrvs = append(rtmpSrvs, s)
		tlsLn := tls.NewListener(lns.rtmps, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		serve("rtmps", func() error { return s.Serve(tlsLn) })
	}
	var pprofSrv *http.Server
	if lns.pprof != nil {
		// Its own listener and mux: the profiler is never on the public
		// port, and the default mux is not used elsewhere.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pprofSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		serve("pprof", func() error { return pprofSrv.Serve(lns.pprof) })
	}
	var srtSrv *srt.Server
	if lns.srt != nil {
		srtSrv = srt.New(srt.Config{Registry: registry, Log: log})
		serve("srt", func() error { return srtSrv.Serve(lns.srt) })
	}
	for name, addr := range lns.addrs() {
		log.Info("listening", "listener", name, "addr", addr)
	}
	printBanner(opt, cfg, lns, account, credPath)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Publishers first, so their sessions end cleanly in the store, then
	// the listeners and the HTTP requests in flight.
	registry.Close(stopCtx)
	recorder.Close() // recordings waiting out a reconnect window end now
	// Chat sessions end (hijacked connections: Shutdown does not wait for
	// them) and the last chat logs are spooled.
	chatSrv.Close()
	// What they wrote last reaches storage before the spool stops, within
	// the grace period; the rest waits in DATA_DIR/spool for the next start.
	select {
	case <-spool.Drained():
	case <-stopCtx.Done():
		n, size := spool.Pending()
		log.Warn("recording objects left in the spool; they upload at the next start", "objects", n, "bytes", size)
	}
	for _, s := range rtmpSrvs {
		_ = s.Close() // Close errors are closed-listener noise at shutdown
	}
	if srtSrv != nil {
		_ = srtSrv.Close()
	}
	hlsSrv.Close()   // releases blocked playlist requests
	stopBackground() // ends SSE streams, so Shutdown need not wait them out
	if err := httpSrv.Shutdown(stopCtx); err != nil {
		_ = httpSrv.Close()
	}
	if pprofSrv != nil {
		_ = pprofSrv.Close() // a profile being taken is cut short
	}
	wg.Wait()
	return runErr
}

// recordingStorage is S3 when --s3-endpoint is set, else the data dir.
func recordingStorage(cfg config.Config) record.Storage {
	if cfg.S3Endpoint == "" {
		return record.Local{Root: filepath.Join(cfg.DataDir, "recordings")}
	}
	akid, secret := os.Getenv("ONAIR_S3_ACCESS_KEY_ID"), os.Getenv("ONAIR_S3_SECRET_ACCESS_KEY")
	if akid == "" {
		akid, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	return record.S3{Client: s3.New(s3.Options{
		BaseEndpoint: aws.String(cfg.S3Endpoint),
		Region:       cfg.S3Region,
		UsePathStyle: true, // what every S3-compatible server serves
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
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

// publicIPs are the addresses WebRTC announces instead of the interfaces':
// the public host when it is an IP (a name is left to the interfaces).
func publicIPs(host string) []string {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}
	}
	return nil
}

// publicHost is the host for URLs in responses: the configured one, else the
// host the client reached us at, else loopback.
func publicHost(configured string, r *http.Request) string {
	if configured != "" {
		return configured
	}
	if r != nil && r.Host != "" {
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			return h
		}
		return r.Host
	}
	return "127.0.0.1"
}

// listeners are bound before anything serves, so that port 0 resolves and
// listeners.json is complete before /healthz answers.
type listeners struct {
	http, rtmp, rtmps, webrtcTCP, pprof net.Listener
	srt                                 gosrt.Listener // UDP
	webrtcUDP                           net.PacketConn
}

func listen(cfg config.Config) (*listeners, error) {
	l := &listeners{}
	for _, a := range []struct {
		name string
		addr string
		dst  *net.Listener
	}{{"http", cfg.HTTPAddr, &l.http}, {"rtmp", cfg.RTMPAddr, &l.rtmp}, {"rtmps", cfg.RTMPSAddr, &l.rtmps},
		{"webrtc-tcp", webrtcTCPAddr(cfg), &l.webrtcTCP}, {"pprof", cfg.PprofAddr, &l.pprof}} {
		if a.addr == config.Off {
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("app: listen %s on %s: %w", a.name, a.addr, err)
		}
		*a.dst = ln
	}
	if cfg.SRTAddr != config.Off {
		ln, err := gosrt.Listen("srt", cfg.SRTAddr, srt.ListenConfig())
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("app: listen srt on %s: %w", cfg.SRTAddr, err)
		}
		l.srt = ln
	}
	if cfg.WebRTCUDPAddr != config.Off {
		pc, err := net.ListenPacket("udp", cfg.WebRTCUDPAddr)
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("app: listen webrtc-udp on %s: %w", cfg.WebRTCUDPAddr, err)
		}
		l.webrtcUDP = pc
	}
	return l, nil
}

// webrtcTCPAddr is where ICE-TCP listens: nowhere when WebRTC is off.
func webrtcTCPAddr(cfg config.Config) string {
	if cfg.WebRTCUDPAddr == config.Off {
		return config.Off
	}
	return cfg.WebRTCTCPAddr
}

func (l *listeners) each(fn func(name string, ln net.Listener)) {
	for _, e := range []struct {
		name string
		ln   net.Listener
	}{{"http", l.http}, {"rtmp", l.rtmp}, {"rtmps", l.rtmps}, {"webrtc-tcp", l.webrtcTCP}, {"pprof", l.pprof}} {
		if e.ln != nil {
			fn(e.name, e.ln)
		}
	}
}

func (l *listeners) addrs() map[string]string {
	m := map[string]string{}
	l.each(func(name string, ln net.Listener) { m[name] = ln.Addr().String() })
	if l.srt != nil {
		m["srt"] = l.srt.Addr().String()
	}
	if l.webrtcUDP != nil {
		m["webrtc-udp"] = l.webrtcUDP.LocalAddr().String()
	}
	return m
}

func (l *listeners) ports() map[string]int {
	m := map[string]int{}
	l.each(func(name string, ln net.Listener) { m[name] = ln.Addr().(*net.TCPAddr).Port })
	if l.srt != nil {
		m["srt"] = l.srt.Addr().(*net.UDPAddr).Port
	}
	return m
}

func (l *listeners) closeAll() {
	l.each(func(_ string, ln net.Listener) { _ = ln.Close() }) // already closed by Shutdown is fine
	if l.srt != nil {
		l.srt.Close()
	}
	if l.webrtcUDP != nil {
		_ = l.webrtcUDP.Close()
	}
}

func printBanner(opt Options, cfg config.Config, l *listeners, a ivs.Account, credPath string) {
	if opt.Stdout == nil {
		return
	}
	host := cfg.PublicHost
	if host == "" {
		host = "127.0.0.1"
	}
	p := l.ports()
	hp := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	w := opt.Stdout
	fmt.Fprintf(w, "\nonair %s is running\n\n", opt.Version)
	fmt.Fprintf(w, "  Console:      http://%s/\n", hp(p["http"]))
	fmt.Fprintf(w, "  API endpoint: http://%s  (region %s)\n", hp(p["http"]), cfg.Region)
	if l.rtmps != nil {
		fmt.Fprintf(w, "  Ingest:       rtmps://%s/app/<stream key>\n", hp(p["rtmps"]))
	}
	if l.rtmp != nil {
		fmt.Fprintf(w, "                rtmp://%s/app/<stream key>  (channels with insecureIngest only)\n", hp(p["rtmp"]))
	}
	if l.srt != nil {
		fmt.Fprintf(w, "                srt://%s?streamid=<stream key>\n", hp(p["srt"]))
	}
	if l.webrtcUDP != nil {
		fmt.Fprintf(w, "                http://%s/whip  (WHIP, Authorization: Bearer <stream key>)\n", hp(p["http"]))
		fmt.Fprintf(w, "  Broadcast:    http://%s/broadcast  (go live from this browser)\n", hp(p["http"]))
	}
	fmt.Fprintf(w, "\n  Admin access key id:     %s\n", a.AccessKeyID)
	if opt.ShowSecret {
		fmt.Fprintf(w, "  Admin secret access key: %s\n", a.SecretAccessKey.Reveal())
	} else {
		fmt.Fprintf(w, "  Admin secret access key: in %s\n", credPath)
	}
	fmt.Fprintf(w, "\n  Try: AWS_SHARED_CREDENTIALS_FILE=%s aws --profile onair --region %s \\\n", credPath, cfg.Region)
	fmt.Fprintf(w, "         --endpoint-url http://%s ivs create-channel --name demo --type BASIC --latency-mode LOW\n\n", hp(p["http"]))
}
