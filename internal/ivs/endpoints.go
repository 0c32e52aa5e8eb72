package ivs

import (
	"net"
	"strconv"
)

// Endpoints are the public addresses put into a channel's ingest and
// playback URLs. They depend on the request (the Host it was sent to) unless
// a public host is configured, so they are filled per response.
type Endpoints struct {
	Host      string // host name or IP, no port
	HTTPPort  int
	RTMPSPort int
	RTMPPort  int
	SRTPort   int
	Region    string
	Account   string
}

func hostPort(host string, port, omit int) string {
	if port == omit || port == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// PlaybackURL returns the multivariant playlist URL of a channel.
func (e Endpoints) PlaybackURL(channelID string) string {
	return "http://" + hostPort(e.Host, e.HTTPPort, 80) +
		"/api/video/v1/" + e.Region + "." + e.Account + ".channel." + channelID + ".m3u8"
}

// Fill sets the endpoint fields of c.
func (e Endpoints) Fill(c *Channel) {
	// IVS's ingestEndpoint is a host; RTMPS runs on 443 there. Here the
	// port is part of it whenever it is not 443, so that
	// rtmps://{ingestEndpoint}/app/{key} works as users write it.
	c.IngestEndpoint = hostPort(e.Host, e.RTMPSPort, 443)
	c.PlaybackURL = e.PlaybackURL(c.ID)
	c.SRT.Endpoint = hostPort(e.Host, e.SRTPort, 0)
	if e.SRTPort == 0 {
		c.SRT.Endpoint = ""
	}
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
}
