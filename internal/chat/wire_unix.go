//go:build unix

package chat

import (
	"errors"
	"syscall"
)

// tryWrite writes as much of frame as the socket takes without blocking
// and returns how much that was; the caller hands the rest to the
// client's writer.
func (f *frameConn) tryWrite(frame []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errClosing
	}
	if f.raw == nil {
		return 0, nil
	}
	var (
		n    int
		werr error
	)
	err := f.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), frame)
			if !errors.Is(werr, syscall.EINTR) {
				return true // done, whether or not the socket took it
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errors.Is(werr, syscall.EAGAIN):
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	if n > 0 && n < len(frame) {
		f.partWritten() // the client's writer sends the rest next
	}
	return n, nil
}
