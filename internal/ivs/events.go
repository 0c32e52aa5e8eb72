package ivs

import (
	"encoding/json"
	"time"
)

// EventSource is the EventBridge source of every event onair emits, as IVS.
const EventSource = "aws.ivs"

// EventBridge detail types (StreamEvent.type in truncatedEvents).
const (
	EventTypeStreamState  = "IVS Stream State Change"
	EventTypeStreamHealth = "IVS Stream Health Change"
	EventTypeLimitBreach  = "IVS Limit Breach"
	EventTypeRecording    = "IVS Recording State Change"
	// EventTypeStageUpdate is IVS Real-Time's: a stage's participants
	// (resources holds the stage ARN).
	EventTypeStageUpdate = "IVS Stage Update"
	// EventTypeParticipantRecording is IVS Real-Time's: a participant's
	// individual recording (resources holds the stage ARN).
	EventTypeParticipantRecording = "IVS Participant Recording State Change"
	// EventTypeCompositionStateChange is IVS Real-Time's: a composition's
	// session and destinations (resources hold the composition and stage
	// ARNs).
	EventTypeCompositionStateChange = "IVS Composition State Change"
)

// Recording statuses (detail.recording_status of IVS Recording State Change).
const (
	RecordingStart        = "Recording Start"
	RecordingEnd          = "Recording End"
	RecordingStartFailure = "Recording Start Failure"
	RecordingEndFailure   = "Recording End Failure"
)

// Event names (detail.event_name; StreamEvent.name).
const (
	EventSessionCreated  = "Session Created"
	EventStreamStart     = "Stream Start"
	EventStreamEnd       = "Stream End"
	EventSessionEnded    = "Session Ended"
	EventStreamFailure   = "Stream Failure"
	EventStarvationStart = "Starvation Start"
	EventStarvationEnd   = "Starvation End"
	EventLimitBreachName = "Limit Breach"
	LimitIngestBitrate   = "Ingest Bitrate"
	// onair's own, under IVS Stream Health Change: a STANDARD channel's
	// ladder cannot run (no ffmpeg), or its ffmpeg died and is restarted.
	EventTranscodeUnavailable = "Transcode Unavailable"
	EventTranscodeFailure     = "Transcode Failure"
	LimitIngestResolution     = "Ingest Resolution"
)

// onair's own event names under IVS Stream Health Change: a server-side
// consumer of the stream fell behind and skipped to the next keyframe
// (detail.code names it: hls, record, transcode, thumbnails, session, whep; at
// most one event a minute per consumer and stream), or could not start on
// the stream (detail.reason says why).
const (
	EventReaderResync    = "Reader Resync"
	EventConsumerFailure = "Consumer Failure"
)

// Limit units, as IVS writes them in detail.limit_unit.
const (
	UnitBitsPerSecond = "bits per second"
	UnitTotalPixels   = "total pixels"
	UnitPixelsPerEdge = "pixels per edge"
)

// Event is one EventBridge-shaped event: what webhooks receive, what the SSE
// endpoint streams, and what a stream session lists as truncatedEvents.
type Event struct {
	// Seq orders events; it is set by the store and is the SSE event id and
	// the webhook cursor.
	Seq        int64       `json:"-"`
	Version    string      `json:"version"`
	ID         string      `json:"id"`
	DetailType string      `json:"detail-type"`
	Source     string      `json:"source"`
	Account    string      `json:"account"`
	Time       time.Time   `json:"time"`
	Region     string      `json:"region"`
	Resources  []string    `json:"resources"`
	Detail     EventDetail `json:"detail"`

	// ChannelID and StreamID index the event in the store; not on the wire.
	ChannelID string `json:"-"`
	StreamID  string `json:"-"`
}

// EventDetail is the union of the detail fields of the IVS event types
// onair emits; each type fills its own.
type EventDetail struct {
	EventName   string `json:"event_name,omitempty"`
	ChannelName string `json:"channel_name"`
	StreamID    string `json:"stream_id,omitempty"`
	Code        string `json:"code,omitempty"`
	Reason      string `json:"reason,omitempty"`

	// IVS Limit Breach.
	LimitName  string `json:"limit_name,omitempty"`
	LimitValue *int64 `json:"limit_value,omitempty"`
	ExceededBy *int64 `json:"exceeded_by,omitempty"`
	LimitUnit  string `json:"limit_unit,omitempty"`

	// IVS Recording State Change.
	RecordingStatus           string   `json:"recording_status,omitempty"`
	RecordingStatusReason     *string  `json:"recording_status_reason,omitempty"`
	RecordingS3BucketName     string   `json:"recording_s3_bucket_name,omitempty"`
	RecordingS3KeyPrefix      string   `json:"recording_s3_key_prefix,omitempty"`
	RecordingDurationMs       *int64   `json:"recording_duration_ms,omitempty"`
	RecordingSessionID        string   `json:"recording_session_id,omitempty"`
	RecordingSessionStreamIDs []string `json:"recording_session_stream_ids,omitempty"`

	// IVS Participant Recording State Change (with the Stage Update's
	// session_id, participant_id and user_id): recording_s3_bucket_name
	// and recording_s3_key_prefix above, and reason for a failure.

	// IVS Stage Update.
	SessionID           string `json:"session_id,omitempty"`
	ParticipantID       string `json:"participant_id,omitempty"`
	UserID              string `json:"user_id,omitempty"`
	RemoteParticipantID string `json:"remote_participant_id,omitempty"`
	ErrorCode           string `json:"error_code,omitempty"`
	// Participant Replication Started / Stopped: where the participant is
	// replicated, and whether the event is the replica's (true) or the
	// source's.
	DestinationStageARN  string `json:"destination_stage_arn,omitempty"`
	DestinationSessionID string `json:"destination_session_id,omitempty"`
	Replica              *bool  `json:"replica,omitempty"`

	// IVS Composition State Change: the stage, and for a destination's
	// events its id and channel (onair's choice of fields).
	StageARN      string `json:"stage_arn,omitempty"`
	DestinationID string `json:"id,omitempty"`
	ChannelARN    string `json:"channel_arn,omitempty"`
}

// MarshalJSON writes d; a stage's event (it has a session_id or a
// stage_arn) has no channel_name, which every channel event has, empty or
// not.
func (d EventDetail) MarshalJSON() ([]byte, error) {
	type plain EventDetail
	if d.SessionID == "" && d.StageARN == "" {
		return json.Marshal(plain(d))
	}
	// The outer field hides the embedded one of the same JSON name.
	return json.Marshal(struct {
		plain
		ChannelName string `json:"channel_name,omitempty"`
	}{plain: plain(d)})
}

// Name is the event's name in a stream session's events: the event_name, or
// for a limit breach "Limit Breach".
func (e Event) Name() string {
	if e.Detail.EventName != "" {
		return e.Detail.EventName
	}
	if e.Detail.RecordingStatus != "" {
		return e.Detail.RecordingStatus
	}
	if e.DetailType == EventTypeLimitBreach {
		return EventLimitBreachName
	}
	return e.DetailType
}

// IsError tells events that make a session's hasErrorEvent true.
func (e Event) IsError() bool {
	return e.DetailType == EventTypeLimitBreach || e.Detail.EventName == EventStreamFailure ||
		e.Detail.RecordingStatus == RecordingStartFailure || e.Detail.RecordingStatus == RecordingEndFailure
}

// StreamEvent is one event of a stream session, as the API lists it.
type StreamEvent struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	EventTime time.Time `json:"eventTime"`
	Code      string    `json:"code,omitempty"`
}

// StreamEvent returns the session-event view of e.
func (e Event) StreamEvent() StreamEvent {
	code := e.Detail.Code
	if code == "" && e.DetailType == EventTypeLimitBreach {
		code = e.Detail.LimitName
	}
	return StreamEvent{Name: e.Name(), Type: e.DetailType, EventTime: e.Time, Code: code}
}
