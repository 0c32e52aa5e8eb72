package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
)

var _ live.Claimer = (*Node)(nil)

// Claim takes channel c's lease for this node (live.Claimer): refused with
// live.ErrChannelBusy while another live node publishes it. Sessions the
// channel still has open (its previous node died or lost it) end here,
// before this node opens its own. The other nodes hear of the claim, so a
// node that lost the channel while frozen cuts its publisher at once.
func (n *Node) Claim(ctx context.Context, c ivs.Channel, streamKey string) (func(), error) {
	n.mu.Lock()
	n.claiming[c.ID]++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.claiming[c.ID]--; n.claiming[c.ID] == 0 {
			delete(n.claiming, c.ID)
		}
		n.mu.Unlock()
	}()
	since := time.Now()
	l, err := n.cfg.Store.ClaimChannel(ctx, c.ID, n.cfg.NodeID, n.bootID, n.cfg.LeaseTTL)
	if errors.Is(err, ivs.ErrChannelLeased) && streamKey != "" && n.takeOver(ctx, c, streamKey) {
		// The holder let its gone publisher go: claim again.
		since = time.Now()
		l, err = n.cfg.Store.ClaimChannel(ctx, c.ID, n.cfg.NodeID, n.bootID, n.cfg.LeaseTTL)
	}
	if errors.Is(err, ivs.ErrChannelLeased) {
		return nil, fmt.Errorf("%w: it is live on another node of the cluster", live.ErrChannelBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: claim channel: %w", err)
	}
	h := &held{epoch: l.Epoch, since: since}
	if l.Epoch > 1 && l.PrevNodeID != "" && l.PrevNodeID != n.cfg.NodeID {
		n.takeovers.Add(1)
		n.log.Info("took the channel over from a node that stopped heartbeating", "channel", c.ARN, "from", l.PrevNodeID)
	}
	release := func() { n.release(c.ID, h) }
	ended, err := n.cfg.Store.EndChannelSessions(ctx, c.ID, time.Now())
	if err == nil && len(ended) > 0 {
		n.log.Info("ended the channel's sessions left open by another node", "channel", c.ARN, "count", len(ended))
		err = n.cfg.Service.EndLostSessions(ctx, ended, ivs.NodeLostReason)
	}
	if err != nil {
		release()
		return nil, fmt.Errorf("cluster: end the channel's open sessions: %w", err)
	}
	for verb, fn := range map[string]nats.MsgHandler{"stop": n.onStop, "disconnect": n.onDisconnect, "metadata": n.onMetadata,
		"takeover": n.onTakeover} {
		sub, err := n.nc.Subscribe(liveSubject(c.ID, verb), fn)
		if err != nil {
			// Only a closed connection fails here; commands then fail on
			// the sender's side, as with NATS down.
			n.log.Warn("subscribe to the channel's commands", "channel", c.ARN, "err", err)
			continue
		}
		h.subs = append(h.subs, sub)
	}
	// Commands reach this node once the NATS server has its subscriptions.
	if n.nc.IsConnected() {
		_ = n.nc.FlushTimeout(time.Second) // else made at the reconnect
	}
	n.mu.Lock()
	n.held[c.ID] = h
	n.mu.Unlock()
	n.publish(liveSubject(c.ID, "claimed"), message{Channel: c.ID, Epoch: l.Epoch})
	return release, nil
}

// release frees a lease this node holds.
func (n *Node) release(channelID string, h *held) {
	for _, s := range h.subs {
		_ = s.Unsubscribe()
	}
	n.mu.Lock()
	if n.held[channelID] == h {
		delete(n.held, channelID)
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.cfg.Store.ReleaseChannel(ctx, channelID, h.epoch); err != nil {
		// The lease runs out with this node's heartbeat, or this node's
		// next claim of the channel takes it again.
		n.log.Warn("release the channel's lease", "channel", channelID, "err", err)
	}
}

// onClaimed cuts this node's publisher of a channel another node claimed
// with a greater epoch.
func (n *Node) onClaimed(msg *nats.Msg) {
	m, ok := decode(msg.Data)
	if !ok || m.Node == n.cfg.NodeID {
		return
	}
	n.forgetOrigin(m.Channel)
	n.mu.Lock()
	h, mine := n.held[m.Channel]
	lost := mine && m.Epoch > h.epoch
	n.mu.Unlock()
	if lost {
		n.log.Warn("another node claimed a channel this node publishes; cutting the publisher", "channel", m.Channel, "by", m.Node)
		n.cfg.Registry.Disconnect(m.Channel, live.ErrLeaseLost)
	}
}

// channelOf is the channel id in a subject onair.live.<id>.<verb>.
func channelOf(subject string) string {
	s := strings.TrimPrefix(subject, "onair.live.")
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i]
	}
	return ""
}

// Reply codes of commands.
const (
	replyNotLive    = "not-live"
	replyNoMetadata = "no-metadata-reader"
	replyFailed     = "failed"
)

func (n *Node) reply(msg *nats.Msg, code string) {
	if msg.Reply == "" {
		return
	}
	b, _ := json.Marshal(message{V: 1, Node: n.cfg.NodeID, Error: code})
	_ = msg.Respond(b)
}

func (n *Node) onStop(msg *nats.Msg) {
	err := n.cfg.Registry.Stop(channelOf(msg.Subject))
	switch {
	case errors.Is(err, live.ErrNotLive):
		n.reply(msg, replyNotLive)
	case err != nil:
		n.reply(msg, replyFailed)
	default:
		n.reply(msg, "")
	}
}

func (n *Node) onDisconnect(msg *nats.Msg) {
	n.cfg.Registry.Disconnect(channelOf(msg.Subject), live.ErrKeyDeleted)
}

func (n *Node) onMetadata(msg *nats.Msg) {
	m, ok := decode(msg.Data)
	if !ok {
		return
	}
	err := live.ErrNotLive
	if st, ok := n.cfg.Registry.Get(channelOf(msg.Subject)); ok {
		err = st.PutMetadata(m.Data)
	}
	switch {
	case errors.Is(err, live.ErrNotLive):
		n.reply(msg, replyNotLive)
	case errors.Is(err, live.ErrNoMetadataReader):
		n.reply(msg, replyNoMetadata)
	case err != nil:
		n.reply(msg, replyFailed)
	default:
		n.reply(msg, "")
	}
}

// takeoverTimeout bounds a takeover: the holder cuts its publisher, ends
// its session and frees the lease.
const takeoverTimeout = 5 * time.Second

// takeOver asks the node that publishes c to let a reconnect with
// streamKey here take the channel over, as one node lets a reconnect take
// over a publisher that looks gone (live.Registry.Claim). It reports
// whether the holder let go.
func (n *Node) takeOver(ctx context.Context, c ivs.Channel, streamKey string) bool {
	ctx, cancel := context.WithTimeout(ctx, takeoverTimeout)
	defer cancel()
	b, _ := json.Marshal(message{V: 1, Node: n.cfg.NodeID, Channel: c.ID, Data: live.KeyHash(streamKey)})
	msg, err := n.nc.RequestWithContext(ctx, liveSubject(c.ID, "takeover"), b)
	if err != nil {
		return false
	}
	m, ok := decode(msg.Data)
	if ok && m.Error == "" {
		n.log.Info("took over a publisher that looked gone on another node", "channel", c.ARN, "from", m.Node)
		return true
	}
	return false
}

func (n *Node) onTakeover(msg *nats.Msg) {
	m, ok := decode(msg.Data)
	if !ok {
		return
	}
	released, yield := n.cfg.Registry.YieldTo(channelOf(msg.Subject), m.Data)
	if !yield {
		n.reply(msg, "busy")
		return
	}
	// Answered once the lease is free; in a goroutine, so that this
	// node's other NATS messages are not held up meanwhile.
	go func() {
		select {
		case <-released:
			n.reply(msg, "")
		case <-time.After(takeoverTimeout):
			n.reply(msg, "busy")
		}
	}()
}
