package stage

import (
	"net/http"
	"regexp"
	"strings"
)

// Client is what a participant's client tells of itself, for the
// participant's browserName, browserVersion, osName, osVersion,
// sdkVersion and protocol in GetParticipant. A field the client did not
// tell is empty: nothing is guessed.
type Client struct {
	BrowserName, BrowserVersion string
	OSName, OSVersion           string
	// SDKVersion is the IVS SDK's X-Stages-SDK header (WHIP requests
	// only: a browser's WebSocket cannot send headers).
	SDKVersion string
	// Protocol is IVS's ParticipantProtocol: WHIP for the web SDK (its
	// media goes over WHIP) and for WHIP clients.
	Protocol string
}

// ProtocolWHIP is the ParticipantProtocol of every stage client onair
// serves.
const ProtocolWHIP = "WHIP"

// clientOf reads a request's Client.
func clientOf(r *http.Request) Client {
	c := ParseUserAgent(r.UserAgent())
	c.SDKVersion = sdkVersion(r.Header.Get("X-Stages-SDK"))
	c.Protocol = ProtocolWHIP
	return c
}

// sdkRE is what an SDK version may be (IVS's ParticipantClientAttribute
// allows less than the header could carry).
var sdkRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$`)

func sdkVersion(h string) string {
	if h = strings.TrimSpace(h); sdkRE.MatchString(h) {
		return h
	}
	return ""
}

// merge fills c's empty fields from o; it says whether c changed.
func (c *Client) merge(o Client) bool {
	changed := false
	for _, f := range [][2]*string{{&c.BrowserName, &o.BrowserName}, {&c.BrowserVersion, &o.BrowserVersion},
		{&c.OSName, &o.OSName}, {&c.OSVersion, &o.OSVersion}, {&c.SDKVersion, &o.SDKVersion}, {&c.Protocol, &o.Protocol}} {
		if *f[0] == "" && *f[1] != "" {
			*f[0], changed = *f[1], true
		}
	}
	return changed
}

// Browsers, in the order they are looked for: a User-Agent names the
// browsers it is compatible with too (Edge's says Chrome and Safari,
// Chrome's says Safari), so the most specific token comes first. Browsers
// built on these that mark themselves (Opera, Samsung Internet, …) are
// unknown, not taken for the one they are built on.
var browsers = []struct {
	token, name string
}{
	{"OPR/", ""}, {"OPiOS/", ""}, {"SamsungBrowser/", ""}, {"YaBrowser/", ""}, {"UCBrowser/", ""},
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"HeadlessChrome/", "Chrome Headless"}, {"Chromium/", "Chromium"}, {"CriOS/", "Chrome"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"}, // Safari's version; only with "Safari/" and none of the above
}

// versionRE is a version: digits and dots (iOS and macOS write _).
var versionRE = regexp.MustCompile(`^[0-9]+(?:[._][0-9]+){0,3}`)

func version(s string) string {
	return strings.ReplaceAll(versionRE.FindString(s), "_", ".")
}

// systems, in the order they are looked for (iOS and Android UAs also say
// "like Mac OS X" and "Linux").
var systems = []struct {
	token, name string
}{
	{"iPhone OS ", "iOS"}, {"iPad; CPU OS ", "iOS"}, {"CPU OS ", "iOS"},
	{"Android", "Android"},
	{"CrOS ", "Chrome OS"},
	{"Windows NT ", "Windows"},
	{"Mac OS X", "macOS"},
	{"Linux", "Linux"},
}

// ParseUserAgent reads the browser and operating system a User-Agent
// names (Chrome, Chromium, Edge, Firefox, Safari; Windows, macOS, Linux,
// Android, iOS, Chrome OS). What it does not recognise is left empty.
func ParseUserAgent(ua string) Client {
	var c Client
	if len(ua) > 1024 {
		ua = ua[:1024]
	}
	for _, b := range browsers {
		i := strings.Index(ua, b.token)
		if i < 0 {
			continue
		}
		if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
			continue
		}
		if b.name != "" {
			if v := version(ua[i+len(b.token):]); v != "" {
				c.BrowserName, c.BrowserVersion = b.name, v
			}
		}
		break
	}
	for _, s := range systems {
		i := strings.Index(ua, s.token)
		if i < 0 {
			continue
		}
		c.OSName = s.name
		rest := strings.TrimLeft(ua[i+len(s.token):], " ")
		switch s.name {
		case "Android", "macOS":
			// "Android 14;", "Mac OS X 10_15_7)"; "Android;" has none.
			c.OSVersion = version(rest)
		case "Chrome OS":
			// "CrOS x86_64 14541.0.0": the platform comes first.
			if _, after, ok := strings.Cut(rest, " "); ok {
				c.OSVersion = version(after)
			}
		case "Linux":
		default:
			c.OSVersion = version(rest)
		}
		break
	}
	return c
}
