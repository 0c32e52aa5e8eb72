package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// settle closes this process's idle connections to the server, so that
// its goroutine count shows only what the server keeps for itself.
func settle() { http.DefaultClient.CloseIdleConnections() }

// expectClosed waits until the server closes conn.
func expectClosed(t *testing.T, conn net.Conn, d time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept the connection open for %s", d)
	}
}

// Refused publishers and garbage on the ingest port get a clear refusal,
// do not disturb the live publisher, and leak no goroutine.
func TestIngestRefusals(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	settle()
	baseline := s.Goroutines(t)

	ch, key := createChannel(t, c, "busy", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	first := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value))})
	waitLive(t, c, aws.ToString(ch.Arn))
	// After every case (they run at once, once this function returns).
	t.Cleanup(func() {
		// The first publisher was not disturbed.
		select {
		case <-first.Done():
			t.Fatalf("the live publisher was cut off: %v", first.Err())
		default:
		}
		waitLive(t, c, aws.ToString(ch.Arn))

		if _, err := c.StopStream(context.Background(), &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
			t.Fatal(err)
		}
		waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)
		settle()
		// A few goroutines of slack for the metrics request's own connection.
		s.WaitGoroutines(t, baseline+3, 20*time.Second)
	})

	t.Run("unknown key", func(t *testing.T) {
		t.Parallel()
		bogus := "sk_us-east-1_" + strings.Repeat("Z", 12) + "_" + strings.Repeat("q", 30)
		p := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(bogus)})
		if err := p.Wait(15 * time.Second); err == nil || strings.Contains(err.Error(), "still running") {
			t.Fatalf("ffmpeg with an unknown key: %v, want a refusal", err)
		}
		if strings.Contains(s.Logs(), bogus) {
			t.Errorf("the refused stream key appears in the server log")
		}
	})
	t.Run("second publisher", func(t *testing.T) {
		t.Parallel()
		p := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPSURL(aws.ToString(key.Value))})
		if err := p.Wait(15 * time.Second); err == nil || strings.Contains(err.Error(), "still running") {
			t.Fatalf("second publisher: %v, want a refusal", err)
		}
	})
	t.Run("garbage bytes", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", s.Addrs["rtmp"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		junk := make([]byte, 8192)
		_, _ = rand.Read(junk)
		_, _ = conn.Write(junk) // the server may close before all is written
		expectClosed(t, conn, 15*time.Second)
	})
	t.Run("truncated handshake", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", s.Addrs["rtmp"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = conn.Write(append([]byte{0x03}, make([]byte, 700)...)) // C0 and part of C1
		expectClosed(t, conn, 20*time.Second)
	})
	t.Run("garbage on rtmps", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", s.Addrs["rtmps"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		expectClosed(t, conn, 15*time.Second)
	})
}

// signed sends a SigV4-signed request as the SDK would, with any body.
func signed(t *testing.T, s *harness.Server, op string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Endpoint()+"/"+op, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ivs", s.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// send sends req and reads the whole response.
func send(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// Malformed and oversize bodies and bad signatures get AWS-shaped errors
// and leak nothing.
func TestAPIBadRequests(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	settle()
	baseline := s.Goroutines(t)
	t.Cleanup(func() { // after every case
		settle()
		s.WaitGoroutines(t, baseline+3, 20*time.Second)
	})
	create := func(body string) func(*testing.T) (int, http.Header, []byte) {
		return func(t *testing.T) (int, http.Header, []byte) { return signed(t, s, "CreateChannel", []byte(body)) }
	}
	tests := []struct {
		name       string
		send       func(*testing.T) (int, http.Header, []byte)
		status     int
		errType    string
		msgContain string
	}{
		{"malformed JSON", create(`{"name": "x",`), 400, "ValidationException", ""},
		{"wrong type", create(`{"name": 5}`), 400, "ValidationException", "name"},
		{"oversize body", create(`{"name":"` + strings.Repeat("a", 4<<20) + `"}`), 400, "ValidationException", ""},
		{"bad field", create(`{"latencyMode":"FAST"}`), 400, "ValidationException", "latencyMode"},
		{"unsigned", func(t *testing.T) (int, http.Header, []byte) {
			req, err := http.NewRequest(http.MethodPost, s.Endpoint()+"/ListChannels", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			return send(t, req)
		}, 403, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, h, b := tt.send(t)
			var body map[string]any
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", b, err)
			}
			et := h.Get("X-Amzn-Errortype")
			if status != tt.status || et == "" || (tt.errType != "" && et != tt.errType) {
				t.Fatalf("status %d type %q, want %d %q; body %s", status, et, tt.status, tt.errType, b)
			}
			if h.Get("X-Amzn-Requestid") == "" {
				t.Errorf("no x-amzn-RequestId")
			}
			msg, _ := body["message"].(string)
			if msg == "" || !strings.Contains(msg, tt.msgContain) {
				t.Errorf("message %q, want it to name %q", msg, tt.msgContain)
			}
		})
	}
}
