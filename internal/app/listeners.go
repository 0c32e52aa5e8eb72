package app

import (
	"fmt"
	"net"
	"net/http"

	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/internal/config"
	"github.com/onair-video/onair/internal/ingest/srt"
)

// publicIPs are the addresses WebRTC announces instead of the interfaces':
// the public host when it is an IP (a name is left to the interfaces).
func publicIPs(host string) []string {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}
	}
	return nil
}

// publicHost is the host for URLs in responses: the configured one, else the
// host the client reached us at, else loopback.
func publicHost(configured string, r *http.Request) string {
	if configured != "" {
		return configured
	}
	if r != nil && r.Host != "" {
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			return h
		}
		return r.Host
	}
	return "127.0.0.1"
}

// listeners are bound before anything serves, so that port 0 resolves and
// listeners.json is complete before /healthz answers.
type listeners struct {
	http, https, rtmp, rtmps, webrtcTCP, pprof net.Listener
	srt                                        gosrt.Listener // UDP
	webrtcUDP                                  net.PacketConn
}

func listen(cfg config.Config) (*listeners, error) {
	l := &listeners{}
	for _, a := range []struct {
		name string
		addr string
		dst  *net.Listener
	}{{"http", cfg.HTTPAddr, &l.http}, {"https", cfg.HTTPSAddr, &l.https}, {"rtmp", cfg.RTMPAddr, &l.rtmp}, {"rtmps", cfg.RTMPSAddr, &l.rtmps},
		{"webrtc-tcp", webrtcTCPAddr(cfg), &l.webrtcTCP}, {"pprof", cfg.PprofAddr, &l.pprof}} {
		if a.addr == config.Off {
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("app: listen %s on %s: %w", a.name, a.addr, err)
		}
		*a.dst = ln
	}
	if cfg.SRTAddr != config.Off {
		ln, err := gosrt.Listen("srt", cfg.SRTAddr, srt.ListenConfig())
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("app: listen srt on %s: %w", cfg.SRTAddr, err)
		}
		l.srt = ln
	}
	if cfg.WebRTCUDPAddr != config.Off {
		pc, err := net.ListenPacket("udp", cfg.WebRTCUDPAddr)
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("app: listen webrtc-udp on %s: %w", cfg.WebRTCUDPAddr, err)
		}
		l.webrtcUDP = pc
	}
	return l, nil
}

// webrtcTCPAddr is where ICE-TCP listens: nowhere when WebRTC is off.
func webrtcTCPAddr(cfg config.Config) string {
	if cfg.WebRTCUDPAddr == config.Off {
		return config.Off
	}
	return cfg.WebRTCTCPAddr
}

func (l *listeners) each(fn func(name string, ln net.Listener)) {
	for _, e := range []struct {
		name string
		ln   net.Listener
	}{{"http", l.http}, {"https", l.https}, {"rtmp", l.rtmp}, {"rtmps", l.rtmps}, {"webrtc-tcp", l.webrtcTCP}, {"pprof", l.pprof}} {
		if e.ln != nil {
			fn(e.name, e.ln)
		}
	}
}

func (l *listeners) addrs() map[string]string {
	m := map[string]string{}
	l.each(func(name string, ln net.Listener) { m[name] = ln.Addr().String() })
	if l.srt != nil {
		m["srt"] = l.srt.Addr().String()
	}
	if l.webrtcUDP != nil {
		m["webrtc-udp"] = l.webrtcUDP.LocalAddr().String()
	}
	return m
}

func (l *listeners) ports() map[string]int {
	m := map[string]int{}
	l.each(func(name string, ln net.Listener) { m[name] = ln.Addr().(*net.TCPAddr).Port })
	if l.srt != nil {
		m["srt"] = l.srt.Addr().(*net.UDPAddr).Port
	}
	return m
}

func (l *listeners) closeAll() {
	l.each(func(_ string, ln net.Listener) { _ = ln.Close() }) // already closed by Shutdown is fine
	if l.srt != nil {
		l.srt.Close()
	}
	if l.webrtcUDP != nil {
		_ = l.webrtcUDP.Close()
	}
}
