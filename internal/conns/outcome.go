// Package conns is how onair's protocol servers keep their clients'
// connections and end them: one classification of how a connection ended
// (Outcome), logged by one rule per outcome, and one set of connections
// (Set) that Close closes and waits for. ingest/rtmp, ingest/srt and
// ingest/whip share it; what a client sees of its ending (an RTMP close,
// an SRT rejection code, an HTTP status) stays each protocol's.
package conns

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/onair-video/onair/internal/live"
)

// Outcome is how a client's connection ended.
type Outcome int

// The outcomes, in the order Classify tries them.
const (
	// Routine: StopStream, the server shutting down, or the client ending
	// its session itself (WHIP's DELETE).
	Routine Outcome = iota
	// Policy: live cut the publisher off for any other reason: a limit
	// breach, an idle encoder, its stream key deleted.
	Policy
	// PeerGone: the client went away (EOF, a reset, a timeout, a failed
	// peer connection).
	PeerGone
	// Refused: the client was turned away: an unknown key, a busy channel,
	// insecure ingest, too many unknown keys, a request or stream onair
	// cannot take (marked with Refuse).
	Refused
	// Failed: anything else, which is onair's problem until shown
	// otherwise.
	Failed
)

// String names the outcome as logs show it.
func (o Outcome) String() string {
	switch o {
	case Routine:
		return "routine"
	case Policy:
		return "policy"
	case PeerGone:
		return "peer_gone"
	case Refused:
		return "refused"
	default:
		return "error"
	}
}

// ErrClientEnded ends a session its client ended itself (WHIP's DELETE).
var ErrClientEnded = errors.New("ended by the client")

// ErrPeerGone ends a session whose peer went away without a word (a
// WebRTC peer connection that failed).
var ErrPeerGone = errors.New("the peer is gone")

// Refuse marks err as a refusal of what the client asked for or sent (a
// bad request, a stream onair cannot take). errors.Is and As see through it.
func Refuse(err error) error { return &refusal{err} }

type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// CutOff is the ending of a publisher live cut off with cause (its
// Publisher.Cause): routine for StopStream and shutdown, policy for
// anything else. Whatever the connection's read failed with meanwhile was
// the cut-off's doing.
func CutOff(cause error) error { return &cutOff{cause} }

type cutOff struct{ cause error }

func (c *cutOff) Error() string { return "cut off: " + c.cause.Error() }
func (c *cutOff) Unwrap() error { return c.cause }

// Classify says how a connection that ended with err ended (nil: routine).
func Classify(err error) Outcome {
	switch {
	case err == nil, errors.Is(err, live.ErrStopped), errors.Is(err, live.ErrShutdown), errors.Is(err, ErrClientEnded):
		return Routine
	case errors.Is(err, live.ErrTakenOver):
		// Its client came back on a new connection: this one was dead.
		return PeerGone
	case errors.As(err, new(*cutOff)):
		return Policy
	case peerGone(err):
		return PeerGone
	case errors.Is(err, live.ErrUnknownKey), errors.Is(err, live.ErrChannelBusy), errors.Is(err, live.ErrRefused),
		errors.Is(err, live.ErrInsecure), errors.Is(err, live.ErrThrottled), errors.Is(err, live.ErrClosed),
		errors.As(err, new(*refusal)):
		return Refused
	default:
		return Failed
	}
}

func peerGone(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		// A deadline of onair's own (a claim that took too long) is not
		// the peer's doing, though it is a net.Error that times out.
		return false
	}
	var ne net.Error
	return errors.Is(err, ErrPeerGone) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// rules are the log level and message of each outcome: the client's doing
// or a routine end at Info, a cut-off or refusal at Warn (someone may want
// to know why a publisher is not live), anything else at Error.
var rules = [...]struct {
	level slog.Level
	msg   string
}{
	Routine:  {slog.LevelInfo, "connection ended"},
	Policy:   {slog.LevelWarn, "connection cut off"},
	PeerGone: {slog.LevelInfo, "peer gone"},
	Refused:  {slog.LevelWarn, "connection refused"},
	Failed:   {slog.LevelError, "connection failed"},
}

// Log logs the end of a connection by its outcome, with the outcome and
// err as the reason, and returns the outcome.
func Log(log *slog.Logger, err error) Outcome {
	o := Classify(err)
	reason := "ended"
	if err != nil {
		reason = err.Error()
	}
	r := rules[o]
	log.Log(context.Background(), r.level, r.msg, "outcome", o.String(), "reason", reason)
	return o
}
