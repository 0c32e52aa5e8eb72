// Package storetest is the behaviour every store must show, one suite per
// store port. A store implementation's tests call Run with a function that
// opens an empty store; a store that implements only some ports (a second
// store, built one port at a time) calls the Run function of each port it
// has. Each port's interface here is the union of what its consumers
// declare (ivs, events, session), where each method's contract is written.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/events"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/session"
)

// Accounts is the account port.
type Accounts interface{ ivs.AccountStore }

// Channels is the port of channels and their stream keys.
type Channels interface{ ivs.ChannelStore }

// RecordingConfigurations is the port of recording configurations.
type RecordingConfigurations interface {
	ivs.RecordingConfigurationStore
}

// Sessions is the port of stream sessions and their metrics: what the
// Service reads and writes (ivs.SessionStore, ivs.UsageStore), what the
// session tracker writes and the downsampler merges.
type Sessions interface {
	ivs.SessionStore
	ivs.UsageStore
	session.Store
	session.Downsampler
}

// EventLog is the port of the event log: what Emit appends and sessions
// list (ivs.EventStore), what webhooks and SSE read, and the webhooks'
// cursors.
type EventLog interface {
	ivs.EventStore
	events.WebhookLog
}

// Documents is the port of resources kept whole as JSON documents.
type Documents interface{ ivs.DocStore }

// StageSessions is the port of stage sessions, participants and their
// events.
type StageSessions interface{ ivsrealtime.SessionStore }

// Store is a store with every port.
type Store interface {
	Accounts
	Channels
	RecordingConfigurations
	Sessions
	EventLog
	Documents
	StageSessions
}

// Run runs every port's suite; open must return a new, empty store each
// call.
func Run[S Store](t *testing.T, open func(t *testing.T) S) {
	RunAccounts(t, open)
	RunChannels(t, open)
	RunRecordingConfigurations(t, open)
	RunSessions(t, open)
	RunEventLog(t, open)
	RunDocuments(t, open)
	RunStageSessions(t, open)
}

// RunAccounts checks the account port.
func RunAccounts[S Accounts](t *testing.T, open func(t *testing.T) S) {
	t.Run("Account", func(t *testing.T) { t.Parallel(); testAccount(t, open(t)) })
}

// RunChannels checks the port of channels and stream keys.
func RunChannels[S Channels](t *testing.T, open func(t *testing.T) S) {
	t.Run("Channels", func(t *testing.T) { t.Parallel(); testChannels(t, open(t)) })
	t.Run("StreamKeys", func(t *testing.T) { t.Parallel(); testStreamKeys(t, open(t)) })
}

// RunRecordingConfigurations checks the recording configurations port.
func RunRecordingConfigurations[S RecordingConfigurations](t *testing.T, open func(t *testing.T) S) {
	t.Run("RecordingConfigurations", func(t *testing.T) { t.Parallel(); testRecordingConfigurations(t, open(t)) })
}

// RunSessions checks the port of sessions and metrics.
func RunSessions[S Sessions](t *testing.T, open func(t *testing.T) S) {
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); testSessions(t, open(t)) })
	t.Run("Metrics", func(t *testing.T) { t.Parallel(); testMetrics(t, open(t)) })
}

// RunEventLog checks the event log port. AppendEvent marks the session of
// an error event (HasErrorEvent), so the store must have the Sessions port
// too: build that one first.
func RunEventLog[S interface {
	EventLog
	Sessions
}](t *testing.T, open func(t *testing.T) S) {
	t.Run("Events", func(t *testing.T) { t.Parallel(); testEvents(t, open(t)) })
}

// RunDocuments checks the documents port.
func RunDocuments[S Documents](t *testing.T, open func(t *testing.T) S) {
	t.Run("Documents", func(t *testing.T) { t.Parallel(); testDocs(t, open(t)) })
}

// RunStageSessions checks the port of stage sessions.
func RunStageSessions[S StageSessions](t *testing.T, open func(t *testing.T) S) {
	t.Run("StageSessions", func(t *testing.T) { t.Parallel(); testStageSessions(t, open(t)) })
}

func channel(id string) ivs.Channel {
	return ivs.Channel{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + id, Name: "n-" + id,
		Type: ivs.TypeBasic, LatencyMode: ivs.LatencyLow, Tags: map[string]string{"k": "v"},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.UTC),
	}
}

func key(id, channelID string) ivs.StreamKey {
	return ivs.StreamKey{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:stream-key/" + id,
		ChannelID: channelID, ChannelARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + channelID,
		Value: ivs.Secret("sk_us-east-1_" + id), Tags: map[string]string{},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ivs.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func testAccount(t *testing.T, s Accounts) {
	ctx := context.Background()
	_, err := s.Account(ctx)
	wantNotFound(t, err)
	first := ivs.Account{ID: "123456789012", AccessKeyID: "AKIAF", SecretAccessKey: "first"}
	if got, created, err := s.CreateAccount(ctx, first); err != nil || !created || got != first {
		t.Fatalf("CreateAccount on an empty store = %+v, %v, %v", got, created, err)
	}
	// A second process starting at once makes its own, and gets the first.
	if got, created, err := s.CreateAccount(ctx, ivs.Account{ID: "210987654321", AccessKeyID: "AKIAS", SecretAccessKey: "second"}); err != nil || created || got != first {
		t.Fatalf("second CreateAccount = %+v, %v, %v; want the first account", got, created, err)
	}
	a := ivs.Account{ID: "123456789012", AccessKeyID: "AKIAX", SecretAccessKey: "secret"}
	must(t, s.PutAccount(ctx, a))
	a.SecretAccessKey = "other"
	must(t, s.PutAccount(ctx, a))
	got, err := s.Account(ctx)
	must(t, err)
	if got != a {
		t.Fatalf("account = %+v, want %+v", got, a)
	}
}
