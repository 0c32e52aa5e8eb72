package conns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/onair-video/onair/internal/live"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want Outcome
	}{
		{"no error", nil, Routine},
		{"StopStream", CutOff(live.ErrStopped), Routine},
		{"shutdown", CutOff(live.ErrShutdown), Routine},
		{"shutdown, wrapped", fmt.Errorf("srt: %w", live.ErrShutdown), Routine},
		{"client's DELETE", ErrClientEnded, Routine},
		{"key deleted", CutOff(live.ErrKeyDeleted), Policy},
		{"limit breach", CutOff(errors.New("Ingest Bitrate: 9000000 over 8500000")), Policy},
		{"cut off while the read failed", fmt.Errorf("rtmp: %w", CutOff(errors.New("idle"))), Policy},
		{"EOF", fmt.Errorf("rtmp: read: %w", io.EOF), PeerGone},
		{"unexpected EOF", io.ErrUnexpectedEOF, PeerGone},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, PeerGone},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), PeerGone},
		{"deadline", fmt.Errorf("rtmp: read: %w", os.ErrDeadlineExceeded), PeerGone},
		{"net timeout", timeoutErr{}, PeerGone},
		{"our own deadline (a slow claim)", fmt.Errorf("rtmp: claim: %w", context.DeadlineExceeded), Failed},
		{"closed conn", net.ErrClosed, PeerGone},
		{"WebRTC peer failed", ErrPeerGone, PeerGone},
		{"refused handshake that hit EOF", Refuse(fmt.Errorf("rtmp: handshake: %w", io.EOF)), PeerGone},
		{"unknown key", fmt.Errorf("rtmp: claim: %w", live.ErrUnknownKey), Refused},
		{"busy", live.ErrChannelBusy, Refused},
		{"quota", fmt.Errorf("%w: %w", live.ErrRefused, errors.New("input hours used up")), Refused},
		{"insecure", live.ErrInsecure, Refused},
		{"throttled", live.ErrThrottled, Refused},
		{"registry closed", live.ErrClosed, Refused},
		{"bad stream", Refuse(errors.New("rtmp: no supported video track")), Refused},
		{"store down", fmt.Errorf("rtmp: claim: live: resolve stream key: %w", errors.New("database is locked")), Failed},
		{"anything else", errors.New("srt: read: bad packet"), Failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// Each outcome has its one level and message; the reason is the error.
func TestLog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{nil, `level=INFO msg="connection ended" outcome=routine reason=ended`},
		{CutOff(live.ErrKeyDeleted), `level=WARN msg="connection cut off" outcome=policy reason="cut off: live: stream key deleted"`},
		{io.EOF, `level=INFO msg="peer gone" outcome=peer_gone reason=EOF`},
		{live.ErrChannelBusy, `level=WARN msg="connection refused" outcome=refused reason="live: channel already has a publisher"`},
		{errors.New("boom"), `level=ERROR msg="connection failed" outcome=error reason=boom`},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		log := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		Log(log, tc.err)
		if got := strings.TrimSpace(b.String()); got != tc.want {
			t.Errorf("Log(%v):\n got %s\nwant %s", tc.err, got, tc.want)
		}
	}
}
