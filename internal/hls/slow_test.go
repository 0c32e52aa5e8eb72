package hls

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// fat returns the test clip with a filler NAL of n bytes in every access
// unit, so that a segment outgrows the kernel's socket buffers.
func fat(t *testing.T, n int) *streamtest.Video {
	v := *streamtest.H264(t)
	filler := append([]byte{12}, bytes.Repeat([]byte{0xff}, n)...)
	v.AUs = make([][][]byte, len(streamtest.H264(t).AUs))
	for i, au := range streamtest.H264(t).AUs {
		v.AUs[i] = append(append([][]byte(nil), au...), filler)
	}
	return &v
}

// dialSlow opens a connection as a viewer on a thin link has: a small
// receive window and an Ethernet-sized MSS (loopback's 64 KB segments let
// the server's send buffer grow to megabytes and swallow a whole segment).
func dialSlow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A viewer that reads a segment far slower than it plays, and one that
// stopped reading altogether, are cut off after SendTimeout; a viewer of
// the same segment meanwhile gets all of it at once.
func TestSlowViewersCutOff(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, fat(t, 16<<10), ivs.LatencyLow, ivs.ContainerTS, func(s *Server) { s.cfg.SendTimeout = time.Second })
	e.writeUntil(3 * time.Second)
	media := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
	var seg string
	for _, sg := range media.Segments {
		if !sg.Gap {
			seg = channelDir + sg.URI
			break
		}
	}
	addr := strings.TrimPrefix(e.http.URL, "http://")

	slow, stuck := dialSlow(t, addr), dialSlow(t, addr)
	for _, c := range []net.Conn{slow, stuck} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", seg)
	}
	// slow reads 40 KB a second (the segment is ~500 KB per second of
	// media); stuck reads nothing.
	slowDone := make(chan int64, 1)
	go func() {
		var n int64
		buf := make([]byte, 4096)
		for {
			m, err := slow.Read(buf)
			n += int64(m)
			if err != nil {
				slowDone <- n
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	full := e.get(t, seg)
	if full.status != http.StatusOK || len(full.body) < 400<<10 {
		t.Fatalf("normal viewer: %d, %d bytes", full.status, len(full.body))
	}
	streamtest.Eventually(t, 10*time.Second, "both slow responses cut off", func() bool {
		return e.srv.SlowViewersDropped() == 2
	})
	select {
	case n := <-slowDone:
		if n >= int64(len(full.body)) {
			t.Errorf("the slow viewer got the whole segment (%d bytes)", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow viewer's connection is still open")
	}
	// The stuck viewer's connection ends once it reads what the kernel
	// buffered: the response never completes.
	_ = stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(stuck), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil || n >= int64(len(full.body)) {
		t.Errorf("stuck viewer read %d bytes, err %v; want a cut-off response", n, err)
	}
}
