package ivsrealtime

import (
	"net"
	"strconv"
	"strings"
)

// The paths onair serves a stage's endpoints at (docs/stages.md): the web
// SDK opens its events WebSocket at EventsPath + "?error_over_ws=1&…" and
// posts WHIP offers to WHIPPath + "/publish/{participantId}" and
// WHIPPath + "/subscribe/{publisherId}".
const (
	EventsPath = "/stage/events"
	WHIPPath   = "/stage/whip"
)

// EndpointsFor returns the stage endpoints on host: on the HTTPS listener
// (wss://, https://) when it has a port, as browsers on https pages need,
// else on the HTTP listener (ws://, http://). Default ports are left out.
func EndpointsFor(host string, httpsPort, httpPort int) Endpoints {
	if httpsPort != 0 {
		hp := hostPort(host, httpsPort, 443)
		return Endpoints{Events: "wss://" + hp + EventsPath, WHIP: "https://" + hp + WHIPPath}
	}
	hp := hostPort(host, httpPort, 80)
	return Endpoints{Events: "ws://" + hp + EventsPath, WHIP: "http://" + hp + WHIPPath}
}

func hostPort(host string, port, omit int) string {
	if port == omit || port == 0 {
		if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// WithIngest adds the RTMP and RTMPS ingest endpoints on host, as IVS's
// (rtmps://host:443/app/): the encoder appends the stream key. A port of 0
// is a listener that is off.
func (e Endpoints) WithIngest(host string, rtmpPort, rtmpsPort int) Endpoints {
	h := hostPort(host, 0, 0)
	if rtmpPort != 0 {
		e.RTMP = "rtmp://" + net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(rtmpPort)) + "/app/"
	}
	if rtmpsPort != 0 {
		e.RTMPS = "rtmps://" + net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(rtmpsPort)) + "/app/"
	}
	return e
}
