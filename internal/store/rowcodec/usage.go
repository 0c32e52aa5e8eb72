package rowcodec

import (
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Usage adds up channels' usage over the period [from, to) from the rows
// of the two usage queries: sessions overlapping the period, and each
// channel's viewer-seconds in it.
type Usage struct {
	from, to, now time.Time
	byChannel     map[string]*ivs.ChannelUsage
	order         []string // channels as first added
}

// NewUsage starts the sums of [from, to); a session still live counts
// until now.
func NewUsage(from, to, now time.Time) *Usage {
	return &Usage{from: from, to: to, now: now, byChannel: map[string]*ivs.ChannelUsage{}}
}

func (u *Usage) get(id string) *ivs.ChannelUsage {
	c, ok := u.byChannel[id]
	if !ok {
		c = &ivs.ChannelUsage{ChannelID: id}
		u.byChannel[id] = c
		u.order = append(u.order, id)
	}
	return c
}

// AddSession adds the input seconds of a session of channelID from its
// start_time and end_time columns (nil: still live), clipped to the
// period.
func (u *Usage) AddSession(channelID, start string, end *string) error {
	st, err := ParseTime(start)
	if err != nil {
		return err
	}
	et := u.now
	if end != nil {
		if et, err = ParseTime(*end); err != nil {
			return err
		}
	}
	if st.Before(u.from) {
		st = u.from
	}
	if et.After(u.to) {
		et = u.to
	}
	if d := et.Sub(st); d > 0 {
		u.get(channelID).InputSeconds += d.Seconds()
	}
	return nil
}

// AddViewerSeconds adds a channel's Σ viewers × span.
func (u *Usage) AddViewerSeconds(channelID string, vs int64) {
	u.get(channelID).ViewerSeconds += float64(vs)
}

// Channels is the usage of each channel added, in the order first added.
func (u *Usage) Channels() []ivs.ChannelUsage {
	out := make([]ivs.ChannelUsage, 0, len(u.order))
	for _, id := range u.order {
		out = append(out, *u.byChannel[id])
	}
	return out
}
