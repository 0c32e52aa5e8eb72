// Package config reads onair's settings: command-line flags over ONAIR_*
// environment variables over an optional YAML file over defaults. Every
// setting has all four; the error for a bad value names the flag.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Off disables a listener when given as its address.
const Off = "off"

// The stores --store names.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// Config is plain data, validated once by Load.
type Config struct {
	DataDir string
	// Store is where onair keeps its state: StoreSQLite (a file in
	// DataDir) or StorePostgres (PostgresURL).
	Store       string
	PostgresURL string
	// NATSURL, when set, makes this process a node of a cluster: nodes
	// share the PostgreSQL store and talk over core NATS (docs/cluster.md).
	NATSURL string
	// NodeID names this node in the cluster; empty: one generated at the
	// first start and kept in DataDir/node-id.
	NodeID string
	// NodeAddr is the base URL other nodes reach this node's HTTP listener
	// at; empty: the HTTP listener's address when it is a specific host.
	NodeAddr string
	// ClusterLeaseTTL is how long a node that stopped heartbeating keeps
	// its live channels; ClusterHeartbeat how often it heartbeats (0: a
	// quarter of the TTL).
	ClusterLeaseTTL    time.Duration
	ClusterHeartbeat   time.Duration
	HTTPAddr           string
	HTTPSAddr          string
	RTMPAddr           string
	RTMPSAddr          string
	PprofAddr          string
	SRTAddr            string
	WebRTCUDPAddr      string
	WebRTCTCPAddr      string
	PublicHost         string
	Region             string
	TLSCert            string
	TLSKey             string
	LogFormat          string
	LogLevel           string
	HLSPartDuration    time.Duration
	HLSSegmentDuration time.Duration
	// HLSViewerTimeout is how long a playback session counts as a viewer
	// after its last request; 0 lets the HLS server choose per latency mode.
	HLSViewerTimeout time.Duration
	// ThumbnailInterval is how often a live stream's thumbnail is taken;
	// 0 turns thumbnails off.
	ThumbnailInterval time.Duration
	// S3Endpoint, if set, is the S3-compatible store recordings go to;
	// without it buckets are directories under DataDir/recordings.
	S3Endpoint string
	S3Region   string
	// S3AccessKeyID and S3SecretAccessKey sign requests to S3Endpoint, from
	// the environment only: ONAIR_S3_ACCESS_KEY_ID and
	// ONAIR_S3_SECRET_ACCESS_KEY, else AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (what S3 tools already have set).
	S3AccessKeyID     string
	S3SecretAccessKey string
	// RecordingSpoolSize bounds the bytes waiting for upload.
	RecordingSpoolSize int64
	// EdgeCacheSize bounds the bytes a cluster node keeps of other nodes'
	// streams (the LL-HLS/HLS edge's cache).
	EdgeCacheSize int64
	// RecordingOrphanGrace is how long past a cluster node's death (its
	// heartbeat older than the lease TTL) another node waits before
	// finishing the dead node's open recordings: long enough for it to come
	// back with its spool and journal.
	RecordingOrphanGrace time.Duration
	// EnforceLimits disconnects publishers over their channel type's input
	// limits, as IVS does (the Limit Breach event is emitted either way).
	EnforceLimits bool
	// InputHoursQuota is the account's monthly input-hours quota; 0 is none.
	InputHoursQuota float64
	// APIRateLimit is the API requests a second one client address may
	// make (twice that in a burst); 0 is no limit.
	APIRateLimit float64
	// GeoIPDB is a MaxMind-format database that places viewers in
	// countries, for playback restriction policies' allowedCountries.
	GeoIPDB string
	// StatsDownsampleAfter is how long after its end a session keeps its
	// per-second metrics before they are merged into one-minute points.
	StatsDownsampleAfter time.Duration
	// Webhooks receive every event. --webhook-url (with the secret from
	// ONAIR_WEBHOOK_SECRET) adds one named "default"; the YAML file's
	// `webhooks:` list adds more.
	Webhooks []Webhook
	// Admin key pair, from the environment only (a secret must not sit in a
	// process listing or a config file that is checked in).
	AdminAccessKeyID     string
	AdminSecretAccessKey string

	webhookURL, webhookSecret string
}

// Webhook is one receiver of events.
type Webhook struct {
	Name   string `yaml:"name"`
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// option is one setting: its flag name (the env var and YAML key derive
// from it), default and help.
type option struct {
	name string
	def  string
	help string
	set  func(c *Config, v string) error
	get  func(c *Config) string
}

func str(f func(c *Config) *string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *f(c) = v; return nil },
		func(c *Config) string { return *f(c) }
}

func dur(f func(c *Config) *time.Duration) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("not a duration (e.g. 200ms): %w", err)
			}
			*f(c) = d
			return nil
		},
		func(c *Config) string { return f(c).String() }
}

func boolean(f func(c *Config) *bool) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "true", "1", "yes", "on":
				*f(c) = true
			case "false", "0", "no", "off":
				*f(c) = false
			default:
				return fmt.Errorf("%q is not true or false", v)
			}
			return nil
		},
		func(c *Config) string { return fmt.Sprint(*f(c)) }
}

func number(f func(c *Config) *float64) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			*f(c) = n
			return nil
		},
		func(c *Config) string { return strconv.FormatFloat(*f(c), 'g', -1, 64) }
}

func opt(name, def, help string, acc func() (func(*Config, string) error, func(*Config) string)) option {
	set, get := acc()
	return option{name: name, def: def, help: help, set: set, get: get}
}

// options lists every setting. Docs (README's table) are generated from it.
var options = []option{
	opt("data-dir", "./data", "directory for the database, credentials, TLS certificate and listeners.json",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.DataDir })
		}),
	opt("store", StoreSQLite, "where onair keeps its state: sqlite (DATA_DIR/onair.db, nothing to set up) or postgres (--postgres-url; several onair processes may share one database: docs/postgres.md)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.Store })
		}),
	opt("postgres-url", "", "PostgreSQL database of --store postgres, as a URL (postgres://user@host:5432/onair?sslmode=require) or libpq key=value string; keep a password out of the command line: ONAIR_POSTGRES_URL, PGPASSWORD or ~/.pgpass",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.PostgresURL })
		}),
	opt("nats-url", "", "core NATS server(s) of a cluster, comma-separated (nats://host:4222); set, onair runs as a node of a cluster that shares --store postgres (docs/cluster.md)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.NATSURL })
		}),
	opt("node-id", "", "this node's name in a cluster (letters, digits, - and _; default: generated at the first start and kept in DATA_DIR/node-id)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.NodeID })
		}),
	opt("node-addr", "", "base URL other nodes of a cluster reach this node's --http-addr at (http://10.0.0.5:8080; default: the HTTP listener's address when it names a host)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.NodeAddr })
		}),
	opt("cluster-lease-ttl", "8s", "how long a cluster node that stopped heartbeating keeps its live channels before a publisher may go live on another node",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.ClusterLeaseTTL })
		}),
	opt("cluster-heartbeat", "0s", "how often a cluster node renews its heartbeat; 0 is a quarter of --cluster-lease-ttl",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.ClusterHeartbeat })
		}),
	opt("http-addr", ":8080", "API, playback, pages, /metrics and /healthz (TCP)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.HTTPAddr })
		}),
	opt("https-addr", ":8443", "the same over TLS (the RTMPS certificate), plus the IVS Web Broadcast SDK's POST /v1/offer; off disables",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.HTTPSAddr })
		}),
	opt("rtmp-addr", ":1935", "RTMP ingest (TCP); off disables",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.RTMPAddr })
		}),
	opt("rtmps-addr", ":1936", "RTMPS ingest (TCP+TLS); off disables",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.RTMPSAddr })
		}),
	opt("srt-addr", ":9000", "SRT ingest (UDP); off disables",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.SRTAddr })
		}),
	opt("webrtc-udp-addr", ":8189", "WebRTC (WHIP, WHEP) ICE on one UDP port; off disables WebRTC",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.WebRTCUDPAddr })
		}),
	opt("webrtc-tcp-addr", ":8189", "WebRTC ICE-TCP on one TCP port, for clients whose UDP is blocked; off disables",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.WebRTCTCPAddr })
		}),
	opt("pprof-addr", "off", "Go profiler (net/http/pprof) on its own listener, for profiling under load; keep it on loopback",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.PprofAddr })
		}),
	opt("public-host", "", "host put into ingest and playback URLs (default: the request's Host, else 127.0.0.1)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.PublicHost })
		}),
	opt("region", "us-east-1", "AWS region this server answers as (in ARNs, stream keys and SigV4 scope)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.Region })
		}),
	opt("tls-cert", "", "PEM certificate for RTMPS and HTTPS (default: self-signed, generated into the data dir)",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.TLSCert })
		}),
	opt("tls-key", "", "PEM private key for --tls-cert",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.TLSKey })
		}),
	opt("log-format", "text", "log format: text or json",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.LogFormat })
		}),
	opt("log-level", "info", "log level: debug, info, warn or error",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.LogLevel })
		}),
	opt("hls-part-duration", "100ms", "LL-HLS part duration (LOW latency channels)",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.HLSPartDuration })
		}),
	opt("hls-segment-duration", "1s", "minimum HLS segment duration; segments end on a keyframe",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.HLSSegmentDuration })
		}),
	opt("hls-viewer-timeout", "0s", "how long a player counts as a viewer after its last playlist request; 0 picks it per latency mode (docs/viewers.md)",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.HLSViewerTimeout })
		}),
	opt("thumbnail-interval", "10s", "how old a live stream's thumbnail (/api/video/v1/{channelId}/thumb.jpg) may be; it is taken from a keyframe when asked for; 0 turns thumbnails off",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.ThumbnailInterval })
		}),
	opt("s3-endpoint", "", "S3-compatible endpoint URL recordings go to (credentials below); empty: buckets are directories under DATA_DIR/recordings",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.S3Endpoint })
		}),
	opt("s3-region", "us-east-1", "region of the S3 endpoint",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.S3Region })
		}),
	opt("recording-spool-size", "1073741824", "bytes of recording that may wait for upload in DATA_DIR/spool before new parts are dropped (with an event)",
		func() (func(*Config, string) error, func(*Config) string) {
			return func(c *Config, v string) error {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil || n < 1<<20 {
						return fmt.Errorf("want a number of bytes, at least 1048576")
					}
					c.RecordingSpoolSize = n
					return nil
				}, func(c *Config) string {
					return strconv.FormatInt(c.RecordingSpoolSize, 10)
				}
		}),
	opt("edge-cache-size", "67108864", "bytes a cluster node keeps of other nodes' streams' parts, segments and playlists (its LL-HLS/HLS edge cache, least recently used first out)",
		func() (func(*Config, string) error, func(*Config) string) {
			return func(c *Config, v string) error {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil || n < 8<<20 {
						return fmt.Errorf("want a number of bytes, at least 8388608")
					}
					c.EdgeCacheSize = n
					return nil
				}, func(c *Config) string {
					return strconv.FormatInt(c.EdgeCacheSize, 10)
				}
		}),
	opt("recording-orphan-grace", "5m", "how long past a cluster node's death another node waits before finishing the dead node's open recordings from the segments that reached storage (long enough for a reboot)",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.RecordingOrphanGrace })
		}),
	opt("enforce-limits", "true", "disconnect a publisher over its channel type's input limits, as IVS does (a Limit Breach event is emitted either way)",
		func() (func(*Config, string) error, func(*Config) string) {
			return boolean(func(c *Config) *bool { return &c.EnforceLimits })
		}),
	opt("input-hours-quota", "0", "monthly input hours of the account after which a new publish is refused (IVS's free tier: 5); 0 is no quota",
		func() (func(*Config, string) error, func(*Config) string) {
			return number(func(c *Config) *float64 { return &c.InputHoursQuota })
		}),
	opt("api-rate-limit", "50", "API requests a second one client address may make, with bursts of twice that; more get ThrottlingException (the SDKs back off and retry); 0 is no limit",
		func() (func(*Config, string) error, func(*Config) string) {
			return number(func(c *Config) *float64 { return &c.APIRateLimit })
		}),
	opt("geoip-db", "", "MaxMind-format database (GeoLite2-Country, GeoIP2, DB-IP lite; .mmdb) that places viewers in countries for playback restriction policies' allowedCountries; without it such a policy refuses playback from public addresses",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.GeoIPDB })
		}),
	opt("stats-downsample-after", "168h", "age (after its end) at which a session's per-second metrics are merged into one-minute points",
		func() (func(*Config, string) error, func(*Config) string) {
			return dur(func(c *Config) *time.Duration { return &c.StatsDownsampleAfter })
		}),
	opt("webhook-url", "", "URL that receives every event (EventBridge JSON, HMAC-signed with ONAIR_WEBHOOK_SECRET); more in the YAML file's webhooks list",
		func() (func(*Config, string) error, func(*Config) string) {
			return str(func(c *Config) *string { return &c.webhookURL })
		}),
}

// envOnly are settings read from the environment alone.
var envOnly = []struct {
	env  string
	help string
	set  func(c *Config, v string)
}{
	{"ONAIR_ADMIN_ACCESS_KEY_ID", "admin access key id (default: generated on first start)", func(c *Config, v string) { c.AdminAccessKeyID = v }},
	{"ONAIR_ADMIN_SECRET_ACCESS_KEY", "admin secret access key (default: generated on first start)", func(c *Config, v string) { c.AdminSecretAccessKey = v }},
	{"ONAIR_WEBHOOK_SECRET", "HMAC secret of --webhook-url", func(c *Config, v string) { c.webhookSecret = v }},
	{"ONAIR_S3_ACCESS_KEY_ID", "access key id for --s3-endpoint (default: AWS_ACCESS_KEY_ID)", func(c *Config, v string) { c.S3AccessKeyID = v }},
	{"ONAIR_S3_SECRET_ACCESS_KEY", "secret access key for --s3-endpoint (default: AWS_SECRET_ACCESS_KEY)", func(c *Config, v string) { c.S3SecretAccessKey = v }},
}

// EnvName returns the environment variable of a flag: ONAIR_ and the name in
// upper case with _ for -.
func EnvName(flagName string) string {
	return "ONAIR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func yamlKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// Load builds the configuration of `onair serve` from args (without the
// subcommand) and the environment lookup getenv.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("onair serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	values := make(map[string]*string, len(options))
	for _, o := range options {
		values[o.name] = fs.String(o.name, o.def, o.help)
	}
	configFile := fs.String("config", getenv("ONAIR_CONFIG"), "YAML file with settings (keys are flag names with _ for -)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var c Config
	byName := make(map[string]option, len(options))
	for _, o := range options {
		byName[o.name] = o
		if err := o.set(&c, o.def); err != nil {
			return Config{}, fmt.Errorf("default of --%s: %w", o.name, err)
		}
	}
	if *configFile != "" {
		if err := loadYAML(&c, *configFile, byName); err != nil {
			return Config{}, err
		}
	}
	for _, o := range options {
		if v := getenv(EnvName(o.name)); v != "" {
			if err := o.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("%s: %w", EnvName(o.name), err)
			}
		}
	}
	for _, e := range envOnly {
		if v := getenv(e.env); v != "" {
			e.set(&c, v)
		}
	}
	// The AWS variables are the fallback as a pair, so that a key id from
	// one place is never signed with a secret from another.
	if c.S3AccessKeyID == "" && c.S3SecretAccessKey == "" {
		c.S3AccessKeyID, c.S3SecretAccessKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		if o, ok := byName[f.Name]; ok && ferr == nil {
			if err := o.set(&c, *values[f.Name]); err != nil {
				ferr = fmt.Errorf("--%s: %w", f.Name, err)
			}
		}
	})
	if ferr != nil {
		return Config{}, ferr
	}
	if c.webhookURL != "" {
		c.Webhooks = append([]Webhook{{Name: "default", URL: c.webhookURL, Secret: c.webhookSecret}}, c.Webhooks...)
	}
	return c, c.Validate()
}

func loadYAML(c *Config, path string, byName map[string]option) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	// webhooks is a list, the one setting that is not a flag.
	if _, ok := m["webhooks"]; ok {
		var doc struct {
			Webhooks []Webhook `yaml:"webhooks"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("--config %s: webhooks: %w", path, err)
		}
		c.Webhooks = doc.Webhooks
		delete(m, "webhooks")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := byName[strings.ReplaceAll(k, "_", "-")]
		if !ok {
			return fmt.Errorf("--config %s: unknown setting %q", path, k)
		}
		if err := o.set(c, fmt.Sprint(m[k])); err != nil {
			return fmt.Errorf("--config %s: %s: %w", path, k, err)
		}
	}
	return nil
}

// Validate checks the settings; its errors name the flag.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, v string }{
		{"http-addr", c.HTTPAddr}, {"https-addr", c.HTTPSAddr}, {"rtmp-addr", c.RTMPAddr}, {"rtmps-addr", c.RTMPSAddr},
		{"srt-addr", c.SRTAddr}, {"webrtc-udp-addr", c.WebRTCUDPAddr}, {"webrtc-tcp-addr", c.WebRTCTCPAddr},
		{"pprof-addr", c.PprofAddr},
	} {
		if a.v == Off {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: want host:port, :port or off", a.flag, a.v))
		}
	}
	if c.HTTPAddr == Off {
		errs = append(errs, errors.New("--http-addr can't be off: the API and playback need it"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	switch {
	case c.Store != StoreSQLite && c.Store != StorePostgres:
		errs = append(errs, fmt.Errorf("--store %q: want sqlite or postgres", c.Store))
	case c.Store == StorePostgres && c.PostgresURL == "":
		errs = append(errs, errors.New("--store postgres needs --postgres-url (or ONAIR_POSTGRES_URL)"))
	case c.Store == StoreSQLite && c.PostgresURL != "":
		errs = append(errs, errors.New("--postgres-url is set but --store is sqlite: add --store postgres, or unset it"))
	case c.PostgresURL != "":
		if err := checkPostgresURL(c.PostgresURL); err != nil {
			errs = append(errs, fmt.Errorf("--postgres-url: %w", err))
		}
	}
	errs = append(errs, c.validateCluster()...)
	if c.Region == "" || strings.ContainsAny(c.Region, " /:") {
		errs = append(errs, fmt.Errorf("--region %q is not a region name", c.Region))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.HLSPartDuration < 50*time.Millisecond || c.HLSPartDuration > 2*time.Second {
		errs = append(errs, fmt.Errorf("--hls-part-duration %s: want 50ms to 2s", c.HLSPartDuration))
	}
	if c.HLSSegmentDuration < c.HLSPartDuration || c.HLSSegmentDuration > 20*time.Second {
		errs = append(errs, fmt.Errorf("--hls-segment-duration %s: want at least the part duration and at most 20s", c.HLSSegmentDuration))
	}
	if c.HLSViewerTimeout < 0 || c.HLSViewerTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--hls-viewer-timeout %s: want 0 (automatic) to 10m", c.HLSViewerTimeout))
	}
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--s3-endpoint %q: want an http(s) URL", c.S3Endpoint))
		}
	}
	if c.ThumbnailInterval != 0 && (c.ThumbnailInterval < time.Second || c.ThumbnailInterval > time.Hour) {
		errs = append(errs, fmt.Errorf("--thumbnail-interval %s: want 0 (off) or 1s to 1h", c.ThumbnailInterval))
	}
	if c.APIRateLimit < 0 {
		errs = append(errs, fmt.Errorf("--api-rate-limit %g: want 0 (none) or more", c.APIRateLimit))
	}
	if c.InputHoursQuota < 0 {
		errs = append(errs, fmt.Errorf("--input-hours-quota %g: want 0 (none) or more", c.InputHoursQuota))
	}
	if c.StatsDownsampleAfter < time.Hour {
		errs = append(errs, fmt.Errorf("--stats-downsample-after %s: want at least 1h", c.StatsDownsampleAfter))
	}
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		u, err := url.Parse(w.URL)
		switch {
		case w.Name == "" || names[w.Name]:
			errs = append(errs, fmt.Errorf("webhooks[%d]: name %q must be set and unique", i, w.Name))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, fmt.Errorf("webhooks[%d] (%s): url must be an http or https URL", i, w.Name))
		case w.Secret == "":
			errs = append(errs, fmt.Errorf("webhooks[%d] (%s): secret must be set (for --webhook-url: ONAIR_WEBHOOK_SECRET)", i, w.Name))
		}
		names[w.Name] = true
	}
	if c.S3Endpoint != "" && (c.S3AccessKeyID == "") != (c.S3SecretAccessKey == "") {
		errs = append(errs, errors.New("ONAIR_S3_ACCESS_KEY_ID and ONAIR_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) go together"))
	}
	if (c.AdminAccessKeyID == "") != (c.AdminSecretAccessKey == "") {
		errs = append(errs, errors.New("ONAIR_ADMIN_ACCESS_KEY_ID and ONAIR_ADMIN_SECRET_ACCESS_KEY go together"))
	}
	return errors.Join(errs...)
}

// nodeIDRe is what a node id may be: it goes into NATS subjects and logs.
var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateCluster checks the cluster settings: they need PostgreSQL, and
// recordings and certificates that every node shares.
func (c *Config) validateCluster() []error {
	var errs []error
	if c.NodeID != "" && !nodeIDRe.MatchString(c.NodeID) {
		errs = append(errs, fmt.Errorf("--node-id %q: want 1 to 64 letters, digits, - or _", c.NodeID))
	}
	if c.NodeAddr != "" {
		if u, err := url.Parse(c.NodeAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("--node-addr %q: want a base URL such as http://10.0.0.5:8080", c.NodeAddr))
		}
	}
	if c.ClusterLeaseTTL < time.Second || c.ClusterLeaseTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--cluster-lease-ttl %s: want 1s to 10m", c.ClusterLeaseTTL))
	}
	if c.RecordingOrphanGrace < time.Second || c.RecordingOrphanGrace > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--recording-orphan-grace %s: want 1s to 24h", c.RecordingOrphanGrace))
	}
	if c.ClusterHeartbeat != 0 && (c.ClusterHeartbeat < 100*time.Millisecond || c.ClusterHeartbeat*2 > c.ClusterLeaseTTL) {
		errs = append(errs, fmt.Errorf("--cluster-heartbeat %s: want 0 (a quarter of the lease TTL) or 100ms to half of --cluster-lease-ttl", c.ClusterHeartbeat))
	}
	if c.NATSURL == "" {
		return errs
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || (pu.Scheme != "nats" && pu.Scheme != "tls") || pu.Host == "" {
			errs = append(errs, errors.New("--nats-url: want nats://host:port, comma-separated"))
			break
		}
	}
	if c.Store != StorePostgres {
		errs = append(errs, errors.New("--nats-url makes a cluster, whose nodes share their state: it needs --store postgres"))
	}
	if c.S3Endpoint == "" {
		errs = append(errs, errors.New("--nats-url makes a cluster: recordings must go to a bucket every node reaches, so --s3-endpoint is required"))
	}
	return errs
}

// Heartbeat is how often a cluster node renews its heartbeat.
func (c *Config) Heartbeat() time.Duration {
	if c.ClusterHeartbeat > 0 {
		return c.ClusterHeartbeat
	}
	return c.ClusterLeaseTTL / 4
}

// checkPostgresURL catches a URL that is not PostgreSQL's before onair
// tries to connect; the message never repeats the URL, which may hold a
// password. Key=value strings are left to the driver.
func checkPostgresURL(v string) error {
	if !strings.Contains(v, "://") {
		if !strings.Contains(v, "=") {
			return errors.New("want postgres://user@host:port/database or a key=value connection string")
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q: want postgres://", u.Scheme)
	}
	return nil
}

// Markdown returns the settings table for the README.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| flag | environment | YAML key | default | meaning |\n|---|---|---|---|---|\n")
	for _, o := range options {
		def := o.def
		if def == "" {
			def = "–"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | `%s` | `%s` | %s |\n", o.name, EnvName(o.name), yamlKey(o.name), def, o.help)
	}
	b.WriteString("| `--config` | `ONAIR_CONFIG` | – | – | YAML file with settings (keys are flag names with _ for -); unknown keys are an error |\n")
	for _, e := range envOnly {
		fmt.Fprintf(&b, "| – | `%s` | – | – | %s |\n", e.env, e.help)
	}
	return b.String()
}
