package rtc

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// absSendTime stamps each packet a local stream sends with the
// abs-send-time header extension (when the peer negotiated it): the send
// time, 6.18 fixed-point seconds in 24 bits. A browser receiving without
// transport-cc estimates its bandwidth from the growth of the delay
// between packets; with abs-send-time it measures it from the SFU's send
// times, without it from the RTP timestamps, which are the publisher's
// capture times: its encoder's, pacer's and uplink's jitter would read as
// congestion of the subscriber's link.
type absSendTime struct{ interceptor.NoOp }

// absSendTimeFactory makes the interceptor of each peer connection.
type absSendTimeFactory struct{}

func (absSendTimeFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &absSendTime{}, nil
}

func (*absSendTime) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	id := 0
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.ABSSendTimeURI {
			id = e.ID
		}
	}
	if id <= 0 || id > 14 {
		return w
	}
	// One stamp's storage per stream, so a packet costs no allocation; the
	// media writer and the retransmitting goroutine share it in turn.
	var mu sync.Mutex
	exts := make([]rtp.Extension, 0, 1)
	buf := make([]byte, 3)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.Extension {
			return w.Write(h, payload, a) // not one of the SFU's: leave it
		}
		mu.Lock()
		defer mu.Unlock()
		v := absSendTime24(time.Now())
		buf[0], buf[1], buf[2] = byte(v>>16), byte(v>>8), byte(v)
		h.Extensions = exts[:0]
		if err := h.SetExtension(uint8(id), buf); err != nil {
			h.Extension, h.Extensions = false, nil
			return w.Write(h, payload, a)
		}
		n, err := w.Write(h, payload, a)
		// The caller's header must not keep the shared storage.
		h.Extension, h.ExtensionProfile, h.Extensions = false, 0, nil
		return n, err
	})
}

// absSendTime24 is t as abs-send-time: seconds in 6.18 fixed point, modulo
// 64 s.
func absSendTime24(t time.Time) uint32 {
	ns := uint64(t.UnixNano())
	return uint32((ns/1e9)<<18|(ns%1e9)<<18/1e9) & 0xFFFFFF
}
