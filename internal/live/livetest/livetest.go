// Package livetest gives the ingest packages' tests a live.Registry's
// dependencies: a store of one channel and one key, and a consumer that
// hands every stream that goes live to the test. Only tests import it.
package livetest

import (
	"context"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Key and ChannelID are the one stream key Sessions knows and its channel.
const (
	Key       = "sk_us-east-1_abcdefghijkl_abcdefghijklmnopqrstuvwxyz0123"
	ChannelID = "abcDEF123456"
)

// Sessions is live.Sessions with one LOW latency channel and its key.
// SRTPassphrase is the channel's SRT passphrase; SecureOnly makes it a
// channel without insecureIngest.
type Sessions struct {
	SRTPassphrase string
	SecureOnly    bool
}

// ResolveStreamKey implements live.Sessions.
func (s Sessions) ResolveStreamKey(_ context.Context, value string) (ivs.Channel, error) {
	if value != Key {
		return ivs.Channel{}, ivs.ErrUnknownStreamKey
	}
	return ivs.Channel{ID: ChannelID, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + ChannelID,
		LatencyMode: ivs.LatencyLow, SRT: ivs.SRT{Passphrase: s.SRTPassphrase}, InsecureIngest: !s.SecureOnly}, nil
}

// StartStreamSession implements live.Sessions.
func (Sessions) StartStreamSession(_ context.Context, c ivs.Channel, start time.Time, _ ivs.IngestConfigurations) (ivs.StreamSession, error) {
	return ivs.StreamSession{StreamID: "st-test", ChannelID: c.ID, Channel: c, StartTime: start}, nil
}

// EndStreamSession implements live.Sessions.
func (Sessions) EndStreamSession(context.Context, ivs.Channel, string, time.Time) error { return nil }

// Emit implements live.Sessions; the events go nowhere.
func (Sessions) Emit(_ context.Context, e ivs.Event) (ivs.Event, error) { return e, nil }

// Attachment is a stream that went live, with a reader attached before its
// first unit.
type Attachment struct {
	Stream *live.Stream
	Reader *stream.Reader
}

// Capture is a live.Consumer that sends every stream that goes live on C.
type Capture struct{ C chan Attachment }

// NewCapture returns a Capture with room for n streams.
func NewCapture(n int) *Capture { return &Capture{C: make(chan Attachment, n)} }

// Attach implements live.Consumer.
func (c *Capture) Attach(st *live.Stream) (func(), error) {
	r := st.Hub.NewReader(1 << 14)
	c.C <- Attachment{Stream: st, Reader: r}
	return r.Close, nil
}
