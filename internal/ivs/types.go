package ivs

import "time"

// Channel types, latency modes, presets and container formats, as on the wire.
const (
	TypeBasic      = "BASIC"
	TypeStandard   = "STANDARD"
	TypeAdvancedSD = "ADVANCED_SD"
	TypeAdvancedHD = "ADVANCED_HD"

	LatencyNormal = "NORMAL"
	LatencyLow    = "LOW"

	PresetHigher      = "HIGHER_BANDWIDTH_DELIVERY"
	PresetConstrained = "CONSTRAINED_BANDWIDTH_DELIVERY"

	ContainerTS    = "TS"
	ContainerFMP4  = "FRAGMENTED_MP4"
	StateLive      = "LIVE"
	StateOffline   = "OFFLINE"
	HealthHealthy  = "HEALTHY"
	HealthStarving = "STARVING"
	HealthUnknown  = "UNKNOWN"
)

// Channel is an IVS channel. The json tags are the wire names: a channel is
// sent as it is, with every field present as IVS does.
type Channel struct {
	ARN                          string            `json:"arn"`
	Name                         string            `json:"name"`
	LatencyMode                  string            `json:"latencyMode"`
	Type                         string            `json:"type"`
	RecordingConfigurationARN    string            `json:"recordingConfigurationArn"`
	IngestEndpoint               string            `json:"ingestEndpoint"`
	PlaybackURL                  string            `json:"playbackUrl"`
	Authorized                   bool              `json:"authorized"`
	Tags                         map[string]string `json:"tags"`
	InsecureIngest               bool              `json:"insecureIngest"`
	Preset                       string            `json:"preset"`
	SRT                          SRT               `json:"srt"`
	PlaybackRestrictionPolicyARN string            `json:"playbackRestrictionPolicyArn"`
	MultitrackInputConfiguration Multitrack        `json:"multitrackInputConfiguration"`
	ContainerFormat              string            `json:"containerFormat"`
	AdConfigurationARN           string            `json:"adConfigurationArn"`

	// ID is the last part of ARN; CreatedAt orders listings. Neither is on the wire.
	ID        string    `json:"-"`
	CreatedAt time.Time `json:"-"`
}

// SRT is a channel's SRT ingest endpoint and passphrase.
type SRT struct {
	Endpoint   string `json:"endpoint"`
	Passphrase string `json:"passphrase"`
}

// Multitrack is a channel's multitrack input configuration.
type Multitrack struct {
	Enabled           bool   `json:"enabled"`
	Policy            string `json:"policy"`
	MaximumResolution string `json:"maximumResolution"`
}

// ChannelSummary is a channel as ListChannels shows it.
type ChannelSummary struct {
	ARN                          string            `json:"arn"`
	Name                         string            `json:"name"`
	LatencyMode                  string            `json:"latencyMode"`
	Authorized                   bool              `json:"authorized"`
	RecordingConfigurationARN    string            `json:"recordingConfigurationArn"`
	Tags                         map[string]string `json:"tags"`
	InsecureIngest               bool              `json:"insecureIngest"`
	Type                         string            `json:"type"`
	Preset                       string            `json:"preset"`
	PlaybackRestrictionPolicyARN string            `json:"playbackRestrictionPolicyArn"`
	AdConfigurationARN           string            `json:"adConfigurationArn"`
}

// Summary returns the channel as ListChannels shows it.
func (c *Channel) Summary() ChannelSummary {
	return ChannelSummary{
		ARN: c.ARN, Name: c.Name, LatencyMode: c.LatencyMode, Authorized: c.Authorized,
		RecordingConfigurationARN: c.RecordingConfigurationARN, Tags: c.Tags,
		InsecureIngest: c.InsecureIngest, Type: c.Type, Preset: c.Preset,
		PlaybackRestrictionPolicyARN: c.PlaybackRestrictionPolicyARN, AdConfigurationARN: c.AdConfigurationARN,
	}
}

// StreamKey is a channel's stream key. Value is a secret: never log it.
type StreamKey struct {
	ARN        string            `json:"arn"`
	Value      Secret            `json:"value"`
	ChannelARN string            `json:"channelArn"`
	Tags       map[string]string `json:"tags"`

	ID        string    `json:"-"`
	ChannelID string    `json:"-"`
	CreatedAt time.Time `json:"-"`
}

// StreamKeySummary is a stream key without its value.
type StreamKeySummary struct {
	ARN        string            `json:"arn"`
	ChannelARN string            `json:"channelArn"`
	Tags       map[string]string `json:"tags"`
}

// Summary returns the key as ListStreamKeys shows it.
func (k *StreamKey) Summary() StreamKeySummary {
	return StreamKeySummary{ARN: k.ARN, ChannelARN: k.ChannelARN, Tags: k.Tags}
}

// Secret is a string that must never reach a log. It marshals to JSON as
// itself, because the API must return stream keys to their owner.
type Secret string

// String redacts the secret.
func (Secret) String() string { return "[REDACTED]" }

// LogValue redacts the secret in slog output.
func (Secret) LogValue() any { return "[REDACTED]" }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// BatchError is one failed ARN of a BatchGet* call.
type BatchError struct {
	ARN     string `json:"arn"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Stream is a live stream as GetStream shows it.
type Stream struct {
	ChannelARN  string    `json:"channelArn"`
	StreamID    string    `json:"streamId"`
	PlaybackURL string    `json:"playbackUrl"`
	StartTime   time.Time `json:"startTime"`
	State       string    `json:"state"`
	Health      string    `json:"health"`
	ViewerCount int64     `json:"viewerCount"`
}

// StreamSummary is a stream as ListStreams shows it.
type StreamSummary struct {
	ChannelARN  string    `json:"channelArn"`
	StreamID    string    `json:"streamId"`
	State       string    `json:"state"`
	Health      string    `json:"health"`
	ViewerCount int64     `json:"viewerCount"`
	StartTime   time.Time `json:"startTime"`
}

// StreamSession is the record of one time a channel was live.
type StreamSession struct {
	StreamID  string
	ChannelID string
	// Channel is the channel as it was when the stream started.
	Channel   Channel
	StartTime time.Time
	// EndTime is zero while the stream is live.
	EndTime time.Time
	// Ingest is what the encoder sent, as far as it could be read.
	Ingest IngestConfigurations
	// Stats summarises the session's per-second metrics; it is updated while
	// the stream is live.
	Stats SessionStats
	// HasErrorEvent is set once an error event (a limit breach, a failure)
	// was recorded for the session.
	HasErrorEvent bool
}

// IngestConfigurations is every track the encoder sent, in IVS's shape.
type IngestConfigurations struct {
	Video []VideoConfiguration `json:"videoConfigurations"`
	Audio []AudioConfiguration `json:"audioConfigurations"`
}

// VideoConfiguration describes an ingested video track. AvcProfile and
// AvcLevel are IVS's deprecated copies of Profile and Level for H.264, only
// filled inside the legacy ingestConfiguration.
type VideoConfiguration struct {
	AvcLevel        string `json:"avcLevel"`
	AvcProfile      string `json:"avcProfile"`
	Codec           string `json:"codec"`
	Encoder         string `json:"encoder"`
	Level           string `json:"level"`
	Profile         string `json:"profile"`
	TargetBitrate   int64  `json:"targetBitrate"`
	TargetFramerate int64  `json:"targetFramerate"`
	Track           string `json:"track"`
	VideoHeight     int64  `json:"videoHeight"`
	VideoWidth      int64  `json:"videoWidth"`
}

// AudioConfiguration describes an ingested audio track.
type AudioConfiguration struct {
	Channels      int64  `json:"channels"`
	Codec         string `json:"codec"`
	SampleRate    int64  `json:"sampleRate"`
	TargetBitrate int64  `json:"targetBitrate"`
	Track         string `json:"track"`
}

// MetricPoint is one sample of a session's ingest and audience. A point
// covers Span seconds from Time: 1 while fresh, more once downsampled, in
// which case the values are averages over the span.
type MetricPoint struct {
	Time             time.Time `json:"time"`
	Span             int       `json:"span"`
	VideoBitrate     int64     `json:"videoBitrate"`     // bits per second
	Framerate        float64   `json:"framerate"`        // frames per second
	AudioBitrate     int64     `json:"audioBitrate"`     // bits per second
	KeyframeInterval float64   `json:"keyframeInterval"` // seconds, the latest seen
	Viewers          int64     `json:"viewers"`          // concurrent
}

// SessionStats holds min, average and max of a session's metrics.
type SessionStats struct {
	Points           int64     `json:"points"`
	VideoBitrate     Aggregate `json:"videoBitrate"`
	Framerate        Aggregate `json:"framerate"`
	AudioBitrate     Aggregate `json:"audioBitrate"`
	KeyframeInterval Aggregate `json:"keyframeInterval"`
	Viewers          Aggregate `json:"viewers"`
}

// Aggregate is the minimum, average and maximum of one metric over its
// samples.
type Aggregate struct {
	Min     float64 `json:"min"`
	Avg     float64 `json:"avg"`
	Max     float64 `json:"max"`
	Samples int64   `json:"samples"`
}

// Account is the single account of this onair installation and its admin
// key pair.
type Account struct {
	ID              string
	AccessKeyID     string
	SecretAccessKey Secret
}

// Add counts p into the summary. A keyframe interval of 0 (not known yet:
// fewer than two keyframes so far) is not a sample.
func (s *SessionStats) Add(p MetricPoint) {
	s.Points++
	s.VideoBitrate.add(float64(p.VideoBitrate))
	s.Framerate.add(p.Framerate)
	s.AudioBitrate.add(float64(p.AudioBitrate))
	if p.KeyframeInterval > 0 {
		s.KeyframeInterval.add(p.KeyframeInterval)
	}
	s.Viewers.add(float64(p.Viewers))
}

func (a *Aggregate) add(v float64) {
	if a.Samples == 0 || v < a.Min {
		a.Min = v
	}
	if a.Samples == 0 || v > a.Max {
		a.Max = v
	}
	a.Samples++
	a.Avg += (v - a.Avg) / float64(a.Samples)
}
