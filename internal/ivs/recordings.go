package ivs

import (
	"context"
	"errors"
	"time"
)

// States of a channel recording in a cluster's shared store.
const (
	// RecordingOpen is recording; RecordingWaiting waits out its
	// reconnect window; RecordingEnded was finished (playlists closed,
	// recording-ended.json written, Recording End emitted) by some node.
	RecordingOpen    = "open"
	RecordingWaiting = "waiting"
	RecordingEnded   = "ended"
)

// ErrRecordingEnded is EndRecording's answer when another node already
// finished the recording.
var ErrRecordingEnded = errors.New("ivs: the recording was already finished by another node")

// ClusterRecording is a channel recording as a cluster's shared store
// knows it: enough for any node to finish it when the node that records it
// dies.
type ClusterRecording struct {
	ID string
	// NodeID is the node that records it; RunID that node's process (a
	// restart is a new run).
	NodeID string
	RunID  string
	// Channel names the channel (ID, ARN, Name) for the events.
	Channel   Channel
	StreamIDs []string
	Bucket    string
	Prefix    string // the key prefix, with its trailing slash
	Config    RecordingConfiguration
	Source    string // the source rendition's name
	State     string
	Started   time.Time
	// WindowEnd is when a waiting recording's reconnect window ends.
	WindowEnd time.Time
}

// RecordedSegment is a media segment of a recording that reached storage.
type RecordedSegment struct {
	RecordingID   string        `json:"recording"`
	Rendition     string        `json:"rendition"`
	Seq           int           `json:"seq"`
	File          string        `json:"file"`
	Duration      time.Duration `json:"dur"`
	Discontinuity bool          `json:"disc,omitempty"`
	Width         int           `json:"width"`
	Height        int           `json:"height"`
	Codecs        string        `json:"codecs"`
	PeakBitrate   int           `json:"peak"`
}

// RecordingStore keeps a cluster's channel recordings in the shared
// store, so that exactly one node finishes each.
type RecordingStore interface {
	// PutRecording writes a recording's row (its state, streams and
	// window), unless the row says it ended.
	PutRecording(ctx context.Context, r ClusterRecording) error
	// AddRecordedSegment records that a segment reached storage;
	// ErrRecordingEnded (nothing recorded) when the recording has ended.
	AddRecordedSegment(ctx context.Context, s RecordedSegment) error
	// EndRecording runs finish while holding the recording's row and
	// marks it ended if finish succeeds. ErrRecordingEnded: another node
	// finished it; ErrNotFound: there is no row (finish did not run).
	EndRecording(ctx context.Context, id string, finish func() error) error
	// EndOrphanRecordings finishes, with finish, the recordings not ended
	// of nodes whose heartbeat is older than deadFor (by the store's
	// clock), and those of nodeID's runs other than runID; each is held
	// while finish runs, so that exactly one node finishes it. It returns
	// how many it ended.
	EndOrphanRecordings(ctx context.Context, nodeID, runID string, deadFor time.Duration,
		finish func(ClusterRecording, []RecordedSegment) error) (int, error)
}
