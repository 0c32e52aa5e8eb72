package sfu

import (
	"errors"
	"fmt"
)

// ErrMediaNotFound is the error of a playback control that named a
// media (mid) the subscription does not send.
var ErrMediaNotFound = errors.New("sfu: no such media in the subscription")

// Pause stops forwarding the media of the subscriber's m-section mid (the
// WHEP playback controls' {"pause":[mid]}: the IVS SDK pauses the video of
// a participant its strategy makes AUDIO_ONLY) until Play. Pausing a
// paused media does nothing.
func (s *Subscription) Pause(mid string) error { return s.setPaused(mid, true) }

// Play resumes forwarding a paused media. The down-track starts over as
// for a new subscriber, at the next keyframe (asked for), its sequence
// numbers and timestamps continuing where the pause left them. Playing a
// media not paused does nothing.
func (s *Subscription) Play(mid string) error { return s.setPaused(mid, false) }

func (s *Subscription) setPaused(mid string, pause bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	d, err := s.byMid(mid)
	if err != nil {
		return err
	}
	if s.paused[d] == pause {
		return nil
	}
	if pause {
		if s.paused == nil {
			s.paused = make(map[*downTrack]bool)
		}
		s.paused[d] = true
		d.m.remove(d)
		return nil
	}
	delete(s.paused, d)
	d.cur.Store(-1)
	d.m.add(d)
	d.m.requestKeyframe(int(d.target(monotime())), monotime())
	return nil
}

// byMid returns the down-track the subscriber's m-section mid carries.
func (s *Subscription) byMid(mid string) (*downTrack, error) {
	if s.pc == nil {
		return nil, fmt.Errorf("%w: a tap has no mids", ErrMediaNotFound)
	}
	for _, tr := range s.pc.GetTransceivers() {
		if tr.Mid() != mid || tr.Sender() == nil {
			continue
		}
		for _, d := range []*downTrack{s.audio, s.video} {
			if d != nil && tr.Sender().Track() == d {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: mid %q", ErrMediaNotFound, mid)
}
