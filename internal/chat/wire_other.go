//go:build !unix

package chat

// tryWrite leaves every frame to the client's writer where the socket
// cannot be written without blocking.
func (f *frameConn) tryWrite([]byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errClosing
	}
	return 0, nil
}
