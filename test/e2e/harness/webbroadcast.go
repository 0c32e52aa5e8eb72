package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// HTTPSEndpoint is the IVS Web Broadcast SDK's endpoint: the HTTPS
// listener, as the SDK takes it (https://host:port).
func (s *Server) HTTPSEndpoint() string { return "https://" + s.Addrs["https"] }

// HTTPSClient is an HTTP client that trusts the server's self-signed
// certificate (DATA_DIR/tls.crt), as a browser does once its user accepted it.
func (s *Server) HTTPSClient(t testing.TB) *http.Client {
	t.Helper()
	crt, err := os.ReadFile(filepath.Join(s.DataDir, "tls.crt"))
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(crt) {
		t.Fatalf("harness: no certificate in tls.crt")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TLSPublicKeyHash is the base64 SHA-256 of the server certificate's
// public key (its SPKI), which Chromium's
// --ignore-certificate-errors-spki-list trusts: that certificate alone, as
// a user who accepted it once, where ignoring every certificate error would
// also pass a wrong one.
func (s *Server) TLSPublicKeyHash(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.DataDir, "tls.crt"))
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("harness: no PEM block in tls.crt")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("harness: tls.crt: %v", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// StreamConfig is what the Web Broadcast SDK declares in its offer's body:
// its preset's maximum resolution, frame rate and bit rate (kbit/s).
type StreamConfig struct {
	Width, Height, FPS, Kbps int
}

// The SDK's presets (BASIC_LANDSCAPE, STANDARD_LANDSCAPE).
var (
	BasicLandscape    = StreamConfig{852, 480, 30, 1500}
	StandardLandscape = StreamConfig{1920, 1080, 30, 8500}
)

// OfferBody is the body the SDK posts: the offer as base64 of JSON
// {type, sdp}, the key and the stream configuration.
func OfferBody(sdp, key string, c StreamConfig) []byte {
	desc, _ := json.Marshal(map[string]string{"type": "offer", "sdp": sdp})
	b, _ := json.Marshal(map[string]any{"offer": base64.StdEncoding.EncodeToString(desc), "streamKey": key,
		"maxResolution": map[string]int{"width": c.Width, "height": c.Height}, "maxFramerate": c.FPS, "maxBitrate": c.Kbps})
	return b
}

// SDKReply is the server's reply to an offer, as the SDK reads it.
type SDKReply struct {
	Status int
	Header http.Header
	Body   string
	// Answer is the SDP answer decoded from a 2xx reply; SessionID its
	// ingestSessionId.
	Answer    string
	SessionID string
	// Code and Message are a refusal's JSON fields.
	Code    int
	Message string
}

// PostOffer posts body to url as the SDK's fetch does and decodes the reply.
func PostOffer(ctx context.Context, c *http.Client, url string, body []byte) (SDKReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return SDKReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://127.0.0.1:1")
	resp, err := c.Do(req)
	if err != nil {
		return SDKReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return SDKReply{}, err
	}
	r := SDKReply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	var v struct {
		Answer    string `json:"answer"`
		SessionID string `json:"ingestSessionId"`
		Code      int    `json:"code"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return r, fmt.Errorf("the reply (%d) is not JSON: %q", resp.StatusCode, b)
	}
	r.SessionID, r.Code, r.Message = v.SessionID, v.Code, v.Message
	if resp.StatusCode/100 == 2 {
		raw, err := base64.StdEncoding.DecodeString(v.Answer)
		if err != nil {
			return r, fmt.Errorf("answer not base64: %w", err)
		}
		var desc struct{ Type, SDP string }
		if err := json.Unmarshal(raw, &desc); err != nil || desc.Type != "answer" {
			return r, fmt.Errorf("answer not JSON {type:answer, sdp}: %q", raw)
		}
		r.Answer = desc.SDP
	}
	return r, nil
}

// PublishWebBroadcast publishes clip as the IVS Web Broadcast SDK does: a
// "stopStream" data channel, then H.264 and Opus, one POST of the offer
// (without candidates: the SDK posts createOffer's result) to
// {endpoint}/v1/offer. It sends only when the reply is a 2xx.
func PublishWebBroadcast(ctx context.Context, c *http.Client, endpoint, key string, clip *Clip, cfg StreamConfig) (*WHIPPublisher, SDKReply, error) {
	p, _, err := newPublisher(clip, true)
	if err != nil {
		return nil, SDKReply{}, err
	}
	// What createOffer returned: no a=candidate lines, as the SDK sends.
	offer := p.PC.LocalDescription().SDP
	offer = stripCandidates(offer)
	r, err := PostOffer(ctx, c, endpoint+"/v1/offer", OfferBody(offer, key, cfg))
	if err != nil || r.Status/100 != 2 {
		_ = p.PC.Close()
		close(p.done)
		return p, r, err
	}
	p.Status, p.Body = r.Status, r.Body
	if err := p.start(ctx, clip, r.Answer); err != nil {
		return nil, r, err
	}
	return p, r, nil
}

// stripCandidates removes a=candidate and end-of-candidates lines.
func stripCandidates(sdp string) string {
	var out bytes.Buffer
	for _, l := range bytes.SplitAfter([]byte(sdp), []byte("\n")) {
		if bytes.HasPrefix(l, []byte("a=candidate:")) || bytes.HasPrefix(l, []byte("a=end-of-candidates")) {
			continue
		}
		out.Write(l)
	}
	return out.String()
}
