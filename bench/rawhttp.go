package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// rawClient is a bare HTTP/1.1 GET client on one kept-alive connection,
// for the players of the viewer ramp. Why not net/http: its client, with a
// read and a write goroutine per connection, cost the load generator more
// CPU than the server it measured (pprof of the bench), so the ramp ended
// where the generator saturated the machine, not the server.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	host string
}

// get fetches u into buf; a failure closes the connection (the next call
// dials again).
func (c *rawClient) get(ctx context.Context, u *url.URL, buf *bytes.Buffer) ([]byte, error) {
	if c.conn == nil || c.host != u.Host {
		c.close()
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		c.conn, c.host = conn, u.Host
		c.br, c.bw = bufio.NewReaderSize(conn, 16<<10), bufio.NewWriterSize(conn, 1<<10)
	}
	// Blocking requests end within the server's own bound (10 s); the
	// context's end (AfterFunc, so that ctx.Err is set by then) cuts a wait
	// short.
	conn := c.conn // c.conn is nil after a failure closes it
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := c.roundTrip(u, buf)
	if err != nil {
		c.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return b, err
}

func (c *rawClient) roundTrip(u *url.URL, buf *bytes.Buffer) ([]byte, error) {
	fmt.Fprintf(c.bw, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: onair-bench\r\n\r\n", u.RequestURI(), u.Host)
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	length, chunked, closeAfter := -1, false, false
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		l := bytes.TrimRight(line, "\r\n")
		if len(l) == 0 {
			break
		}
		k, v, _ := bytes.Cut(l, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closeAfter = bytes.EqualFold(v, []byte("close"))
		}
	}
	buf.Reset()
	switch {
	case chunked:
		for {
			line, err = c.br.ReadSlice('\n')
			if err != nil {
				return nil, err
			}
			sz, _, _ := strings.Cut(strings.TrimSpace(string(line)), ";")
			n, err := strconv.ParseInt(sz, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("bad chunk size %q", line)
			}
			if n == 0 {
				for { // trailers
					if line, err = c.br.ReadSlice('\n'); err != nil {
						return nil, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						break
					}
				}
				break
			}
			if _, err := io.CopyN(buf, c.br, n); err != nil {
				return nil, err
			}
			if _, err := c.br.Discard(2); err != nil {
				return nil, err
			}
		}
	case length >= 0:
		if _, err := io.CopyN(buf, c.br, int64(length)); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("response without a length")
	}
	if closeAfter {
		c.close()
	}
	if status != 200 {
		return nil, fmt.Errorf("GET %s: %d", u, status)
	}
	return buf.Bytes(), nil
}

func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}
