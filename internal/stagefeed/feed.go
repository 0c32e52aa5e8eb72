// Package stagefeed publishes an encoder's stream (RTMP, RTMPS or SRT, with
// an IVS Real-Time ingest configuration's stream key) into a stage as that
// configuration's participant. It is the live registry's StageTarget: the
// ingest writes the encoder's access units into a hub as for a channel,
// and a feed reads them, packetizes H.264 into RTP (packetization-mode 1,
// parameter sets before each IDR), converts AAC to Opus (internal/ffmpeg)
// and writes both into the participant's local SFU publisher, from which
// the stage's WebRTC subscribers receive them.
//
// What WebRTC cannot carry is refused with IVS's PUBLISH_ERROR codes:
// video other than H.264 (INVALID_VIDEO_CODEC), audio other than AAC
// (INVALID_AUDIO_CODEC), B-frames (B_FRAME_PRESENT).
package stagefeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/internal/stream"
)

// IVS's PUBLISH_ERROR codes of what a feed refuses.
const (
	CodeInvalidVideoCodec = "INVALID_VIDEO_CODEC"
	CodeInvalidAudioCodec = "INVALID_AUDIO_CODEC"
	CodeBFramePresent     = "B_FRAME_PRESENT"
	CodeReuseOfStreamKey  = live.CodeReuseOfStreamKey
)

// Why a feed ends an encoder's connection.
var (
	ErrVideoCodec = errors.New("stagefeed: the video is not H.264 (Constrained Baseline, Main or High), which a stage needs (INVALID_VIDEO_CODEC)")
	ErrAudioCodec = errors.New("stagefeed: the audio is not AAC, which a stage takes (INVALID_AUDIO_CODEC)")
	ErrBFrames    = errors.New("stagefeed: the video has B-frames, which WebRTC cannot carry (B_FRAME_PRESENT); encode without them (x264: -bf 0)")
	ErrLeft       = errors.New("stagefeed: the participant left the stage (DisconnectParticipant or DeleteStage)")
	ErrDeleted    = errors.New("stagefeed: the ingest configuration was deleted")
	ErrClosed     = errors.New("stagefeed: shutting down")
)

// Ingest is the participant an ingest configuration's key publishes as.
type Ingest struct {
	ConfigID, ConfigARN string
	StageARN, StageID   string
	ParticipantID       string
	UserID              string
	Attributes          map[string]string
	InsecureIngest      bool
	// Redundant: the configuration has redundant ingest.
	Redundant bool
}

// Domain is what the feeds need of the Stages control plane.
type Domain interface {
	// Resolve returns the ingest a stream key names, or an error wrapping
	// live.ErrUnknownKey when it names none (or a configuration on no
	// stage).
	Resolve(ctx context.Context, key string) (Ingest, error)
	// Refused records a PUBLISH_ERROR event of the ingest's participant
	// with an IVS error code; protocol is the encoder's (RTMP, RTMPS, SRT).
	Refused(ctx context.Context, in Ingest, code, protocol string) error
}

// Roster publishes into stages (*stage.Stages).
type Roster interface {
	PublishLocal(p stage.Participant, opts sfu.LocalOptions) (*sfu.Publisher, error)
}

// Config holds the dependencies of Feeds.
type Config struct {
	Domain Domain
	Roster Roster
	Log    *slog.Logger
}

// Feeds are the encoders publishing into stages.
type Feeds struct {
	domain Domain
	roster Roster
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]map[*feed]struct{} // by configuration id
}

var _ live.StageIngest = (*Feeds)(nil)

// New returns Feeds; it starts nothing.
func New(cfg Config) *Feeds {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Feeds{domain: cfg.Domain, roster: cfg.Roster, log: cfg.Log.With("component", "stagefeed"), ctx: ctx, cancel: cancel,
		active: make(map[string]map[*feed]struct{})}
}

// callTimeout bounds a call into the control plane.
const callTimeout = 5 * time.Second

// ResolveStageKey implements live.StageIngest.
func (f *Feeds) ResolveStageKey(ctx context.Context, key string) (live.StageTarget, error) {
	in, err := f.domain.Resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	return &target{f: f, in: in, key: key}, nil
}

// Active tells whether an encoder publishes with a configuration (its
// state ACTIVE).
func (f *Feeds) Active(configID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.active[configID]) > 0
}

// Cut ends the connections of a configuration's encoders (its forced
// deletion).
func (f *Feeds) Cut(configID string, cause error) {
	f.mu.Lock()
	var cuts []func(error)
	for fd := range f.active[configID] {
		cuts = append(cuts, fd.cut)
	}
	f.mu.Unlock()
	for _, c := range cuts {
		c(cause)
	}
}

// Close ends every feed (their encoders' connections) and waits for them.
func (f *Feeds) Close() {
	f.mu.Lock()
	var cuts []func(error)
	for _, fs := range f.active {
		for fd := range fs {
			cuts = append(cuts, fd.cut)
		}
	}
	f.mu.Unlock()
	for _, c := range cuts {
		c(ErrClosed)
	}
	f.cancel()
	f.wg.Wait()
}

// refused records a refusal, off the caller's deadline (the control
// plane must hear of it even when the connection is gone).
func (f *Feeds) refused(in Ingest, code, protocol string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := f.domain.Refused(ctx, in, code, protocol); err != nil {
		f.log.Error("record publish error", "ingest_configuration", in.ConfigARN, "code", code, "err", err)
	}
}

// target is one stream key's participant (live.StageTarget).
type target struct {
	f   *Feeds
	in  Ingest
	key string // never logged
}

func (t *target) Slot() string         { return t.in.ConfigID + "/" + t.in.ParticipantID }
func (t *target) Name() string         { return t.in.ConfigARN }
func (t *target) InsecureIngest() bool { return t.in.InsecureIngest }

func (t *target) Refused(code string, conn live.ConnInfo) {
	t.f.refused(t.in, code, live.StageProtocol(conn))
}

// Publish checks the tracks and starts the feed; the stage sees the
// participant once its first keyframe arrives.
func (t *target) Publish(hub *stream.Hub, conn live.ConnInfo, cut func(error)) (func(), error) {
	// Read again: the configuration may have been deleted or moved while
	// the ingest read the encoder's tracks.
	ctx, cancel := context.WithTimeout(t.f.ctx, callTimeout)
	in, err := t.f.domain.Resolve(ctx, t.key)
	cancel()
	if err != nil {
		return nil, err
	}
	protocol := live.StageProtocol(conn)
	tr, code, err := pickTracks(hub.Tracks())
	if err != nil {
		t.f.refused(in, code, protocol)
		return nil, err
	}
	fd := &feed{f: t.f, in: in, protocol: protocol, tracks: tr, cut: cut, done: make(chan struct{})}
	var fctx context.Context
	fctx, fd.cancel = context.WithCancel(t.f.ctx)
	t.f.mu.Lock()
	if t.f.ctx.Err() != nil {
		t.f.mu.Unlock()
		fd.cancel()
		return nil, ErrClosed
	}
	if t.f.active[in.ConfigID] == nil {
		t.f.active[in.ConfigID] = make(map[*feed]struct{})
	}
	t.f.active[in.ConfigID][fd] = struct{}{}
	t.f.wg.Add(1)
	t.f.mu.Unlock()
	// The reader before Publish returns: the ingest writes the hub right
	// after, and its first keyframe must not be missed.
	r := hub.NewReader(readerQueue, stream.Resync)
	go func() {
		defer t.f.wg.Done()
		defer close(fd.done)
		defer fd.unregister()
		defer r.Close()
		fd.run(fctx, r)
	}()
	return func() {
		fd.cancel()
		<-fd.done
	}, nil
}

// tracks are the hub's tracks a feed publishes and their WebRTC codecs.
type tracks struct {
	video, audio           *stream.Track
	videoCodec, audioCodec *webrtc.RTPCodecParameters
}

// pickTracks chooses the H.264 video and AAC audio tracks and their
// WebRTC codecs, or refuses with the error code IVS records.
func pickTracks(ts []*stream.Track) (tracks, string, error) {
	var tr tracks
	for _, t := range ts {
		switch c := t.Codec.(type) {
		case *stream.H264:
			if tr.video != nil {
				continue
			}
			codec, ok := h264Codec(c.SPS)
			if !ok {
				return tr, CodeInvalidVideoCodec, ErrVideoCodec
			}
			tr.video, tr.videoCodec = t, codec
		case *stream.AAC:
			if tr.audio != nil {
				continue
			}
			_, opus := rtc.SFUCodecs()
			tr.audio, tr.audioCodec = t, &opus[0]
		default:
			if t.Codec.IsVideo() {
				return tr, CodeInvalidVideoCodec, ErrVideoCodec
			}
			return tr, CodeInvalidAudioCodec, ErrAudioCodec
		}
	}
	if tr.video == nil {
		return tr, CodeInvalidVideoCodec, ErrVideoCodec
	}
	return tr, "", nil
}

// h264Codec is the SFU's H.264 codec of an SPS's profile: Constrained
// Baseline and Baseline as 42e01f, Main 4d001f, High 64001f (what browsers
// decode); other profiles (High 10, 4:2:2, 4:4:4) none.
func h264Codec(spsNALU []byte) (*webrtc.RTPCodecParameters, bool) {
	var sps h264.SPS
	if len(spsNALU) == 0 || sps.Unmarshal(spsNALU) != nil {
		return nil, false
	}
	want := map[uint8]string{66: "42e01f", 77: "4d001f", 100: "64001f"}[sps.ProfileIdc]
	if want == "" {
		return nil, false
	}
	video, _ := rtc.SFUCodecs()
	for i := range video {
		if video[i].MimeType == webrtc.MimeTypeH264 && hasProfile(video[i].SDPFmtpLine, want) {
			return &video[i], true
		}
	}
	return nil, false
}

func hasProfile(fmtp, profile string) bool {
	const key = "profile-level-id="
	for i := 0; i+len(key)+6 <= len(fmtp); i++ {
		if fmtp[i:i+len(key)] == key {
			return fmtp[i+len(key):i+len(key)+6] == profile
		}
	}
	return false
}

// feed is one encoder publishing into a stage.
type feed struct {
	f        *Feeds
	in       Ingest
	protocol string
	tracks   tracks
	cut      func(error)
	cancel   context.CancelFunc
	done     chan struct{}
}

func (fd *feed) unregister() {
	fd.f.mu.Lock()
	defer fd.f.mu.Unlock()
	delete(fd.f.active[fd.in.ConfigID], fd)
	if len(fd.f.active[fd.in.ConfigID]) == 0 {
		delete(fd.f.active, fd.in.ConfigID)
	}
}

// readerQueue bounds the units waiting for the feed: a feed that falls
// that far behind skips to the next keyframe.
const readerQueue = 512

// probeFrames are the video frames after the first keyframe that are
// checked for B-frames before the participant joins, so that a stream with
// them is refused before anyone sees it.
const probeFrames = 3

// run reads the hub: it waits for a keyframe, checks the first frames,
// publishes, and forwards until the stream ends, the feed is stopped, or
// the participant is disconnected.
func (fd *feed) run(ctx context.Context, r *stream.Reader) {
	log := fd.f.log.With("ingest_configuration", fd.in.ConfigARN, "stage", fd.in.StageARN, "participant", fd.in.ParticipantID)

	// Probe: the first keyframe and the frames after it.
	var pending []*stream.Unit
	frames := 0
	for frames <= probeFrames {
		u, err := r.Read(ctx)
		if err != nil {
			return
		}
		switch u.Track {
		case fd.tracks.video:
			if hasB(u) {
				fd.f.refused(fd.in, CodeBFramePresent, fd.protocol)
				fd.cut(ErrBFrames)
				return
			}
			if len(pending) == 0 && !u.RandomAccess {
				continue
			}
			frames++
			pending = append(pending, u)
		case fd.tracks.audio:
			if len(pending) > 0 {
				pending = append(pending, u)
			}
		}
	}

	p := stage.Participant{StageARN: fd.in.StageARN, Topic: fd.in.StageID, ID: fd.in.ParticipantID, UserID: fd.in.UserID,
		Attributes: fd.in.Attributes, Publish: true, Client: stage.Client{Protocol: fd.protocol}}
	opts := sfu.LocalOptions{Video: fd.tracks.videoCodec}
	if fd.tracks.audio != nil {
		opts.Audio = fd.tracks.audioCodec
	}
	pub, err := fd.f.roster.PublishLocal(p, opts)
	if err != nil {
		if errors.Is(err, sfu.ErrPublisherExists) {
			fd.f.refused(fd.in, CodeReuseOfStreamKey, fd.protocol)
		}
		// The roster recorded QUOTA_EXCEEDED itself.
		fd.cut(fmt.Errorf("stagefeed: publish into the stage: %w", err))
		return
	}
	log.Info("publishing into the stage", "protocol", fd.protocol)
	// The publisher ends before the feed does when the participant is
	// disconnected or the stage deleted: the encoder is cut off then.
	quit, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-pub.Done():
			fd.cut(ErrLeft)
		case <-quit:
		}
	}()
	defer func() {
		close(quit)
		<-watched
		pub.Close()
	}()

	vp := &videoPacketizer{ssrc: mrand.Uint32(), pt: uint8(fd.tracks.videoCodec.PayloadType), seq: uint16(mrand.Uint32()), base: mrand.Uint32()}
	writeAudio := fd.audioWriter(ctx, pub, log)
	if writeAudio != nil {
		defer writeAudio(nil)
	}
	write := func(u *stream.Unit) bool {
		switch u.Track {
		case fd.tracks.video:
			if hasB(u) {
				fd.f.refused(fd.in, CodeBFramePresent, fd.protocol)
				fd.cut(ErrBFrames)
				return false
			}
			for _, pkt := range vp.packets(u.PTS, u.Payload) {
				if err := pub.WriteRTP(webrtc.RTPCodecTypeVideo, &pkt.Header, pkt.Payload); err != nil {
					return false // the publisher is gone: its Done cuts the encoder
				}
			}
		case fd.tracks.audio:
			if writeAudio != nil {
				writeAudio(u)
			}
		}
		return true
	}
	for _, u := range pending {
		if !write(u) {
			return
		}
	}
	for {
		u, err := r.Read(ctx)
		if err != nil || !write(u) {
			return
		}
	}
}

// hasB tells a video unit that is or may be a B-frame: presented later
// than decoded (the encoder reorders), or holding a B slice.
func hasB(u *stream.Unit) bool { return u.PTS != u.DTS || hasBFrame(u.Payload) }

// audioWriter returns what takes the AAC units: an AAC-to-Opus converter
// whose packets go to pub's audio track. Called with nil, it closes the
// converter. nil: no audio (none, or ffmpeg failed: the picture goes on).
func (fd *feed) audioWriter(ctx context.Context, pub *sfu.Publisher, log *slog.Logger) func(*stream.Unit) {
	if fd.tracks.audio == nil {
		return nil
	}
	a, ok := fd.tracks.audio.Codec.(*stream.AAC)
	if !ok {
		return nil
	}
	ap := &audioPacketizer{ssrc: mrand.Uint32(), pt: uint8(fd.tracks.audioCodec.PayloadType), seq: uint16(mrand.Uint32()), base: mrand.Uint32()}
	// The converter's callback is the audio track's one writer.
	conv, err := ffmpeg.AACToOpus(ctx, a.Config, log, func(fr ffmpeg.Frame) {
		pkt := ap.packet(fr.PTS, fr.Data)
		_ = pub.WriteRTP(webrtc.RTPCodecTypeAudio, &pkt.Header, pkt.Payload)
	})
	if err != nil {
		log.Warn("stage audio off", "reason", err.Error())
		return nil
	}
	return func(u *stream.Unit) {
		if u == nil {
			conv.Close()
			return
		}
		conv.Write(ffmpeg.Frame{PTS: u.PTS, Data: u.Payload[0]})
	}
}
