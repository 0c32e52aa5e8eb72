package rtc

import (
	"bytes"
	"errors"
	"net"
	"sync"
)

// maxQueuedBytes bounds what an ICE-TCP peer may have waiting to be sent:
// about 2 s of a 4 Mbps stream. A peer further behind is dropped.
const maxQueuedBytes = 1 << 20

// errSlowPeer is what writes to a dropped ICE-TCP peer return.
var errSlowPeer = errors.New("rtc: ICE-TCP peer too slow, dropped")

// queuedListener hands pion's ICE-TCP mux connections whose writes never
// block. pion writes every viewer's packets from the one goroutine that
// feeds a shared track, and a TCP write blocks while the peer's window is
// shut: one viewer on a congested link (or one that stopped reading) would
// stall every viewer of the channel. UDP has no such problem: a full socket
// drops datagrams.
type queuedListener struct{ net.Listener }

func (l queuedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	q := &queuedConn{Conn: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q, nil
}

// queuedConn sends through a bounded queue drained by its own goroutine,
// which lives as long as the connection.
type queuedConn struct {
	net.Conn
	wake      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	queue  net.Buffers
	queued int // bytes queued or being written
	err    error
}

func (c *queuedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if c.queued+len(p) > maxQueuedBytes {
		c.err = errSlowPeer
		c.mu.Unlock()
		_ = c.Close()
		return 0, errSlowPeer
	}
	// pion's buffer is its own again once Write returns.
	c.queue = append(c.queue, bytes.Clone(p))
	c.queued += len(p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *queuedConn) run() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		bufs := c.queue
		c.queue = nil
		c.mu.Unlock()
		var n int
		for _, b := range bufs {
			n += len(b)
		}
		// WriteTo consumes bufs (a writev per batch); Close unblocks it.
		if _, err := bufs.WriteTo(c.Conn); err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = err
			}
			c.mu.Unlock()
			_ = c.Close()
			return
		}
		c.mu.Lock()
		c.queued -= n
		c.mu.Unlock()
	}
}

func (c *queuedConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.done)
		err = c.Conn.Close()
	})
	return err
}
