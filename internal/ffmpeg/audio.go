package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// audioInput is lowDelay with -fflags nobuffer, which audio can take.
func audioInput() []string {
	return append(LowDelay(), "-fflags", "+nobuffer+flush_packets")
}

// sendFirst hands a run's first input time to its decoder, replacing one a
// dead run left unread.
func sendFirst(ch chan time.Duration, d time.Duration) {
	select {
	case <-ch:
	default:
	}
	ch <- d
}

// AACToOpus converts AAC frames (raw access units of the given config) to
// 48 kHz Opus packets of 20 ms, as WebRTC plays. out receives each packet
// with its media time: that of the first input frame plus the samples made.
func AACToOpus(ctx context.Context, cfg *mpeg4audio.AudioSpecificConfig, log *slog.Logger, out func(Frame)) (*Converter, error) {
	// Channel configurations 1 to 6 are the count, 7 is eight channels and 0
	// leaves it to the bitstream: clamped, mono or stereo either way.
	ch := min(max(int(cfg.ChannelConfig), 1), 2)
	args := append(audioInput(), "-f", "aac", "-i", "pipe:0",
		"-c:a", "libopus", "-application", "lowdelay", "-frame_duration", "20", "-b:a", "128k",
		"-ar", "48000", "-ac", strconv.Itoa(ch),
		"-f", "ogg", "-page_duration", "20000", "-flush_packets", "1", "pipe:1")
	firstCh := make(chan time.Duration, 1)
	enc := func(w io.Writer) (func(Frame) error, error) {
		started := false
		return func(f Frame) error {
			if !started {
				started = true
				sendFirst(firstCh, f.PTS)
			}
			pkts := mpeg4audio.ADTSPackets{{Type: cfg.Type, SampleRate: cfg.SampleRate, ChannelConfig: cfg.ChannelConfig, AU: f.Data}}
			b, err := pkts.Marshal()
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		}, nil
	}
	dec := func(r *bufio.Reader) error {
		or, head, err := oggreader.NewWith(r)
		if err != nil {
			return fmt.Errorf("ogg header: %w", err)
		}
		var start time.Duration
		haveStart := false
		samples := -int64(head.PreSkip)
		for {
			page, _, err := or.ParseNextPage()
			if err != nil {
				return err
			}
			if len(page) >= 8 && string(page[:8]) == "OpusTags" {
				continue
			}
			d := opus.PacketDuration2(page)
			if d == 0 {
				continue
			}
			if !haveStart {
				start, haveStart = <-firstCh, true // output implies input: its time is known
			}
			// The first packet starts pre-skip samples before the input.
			pts := start + time.Duration(samples)*time.Second/48000
			samples += d
			out(Frame{PTS: pts, Data: page})
		}
	}
	return Start(ctx, Config{Name: "aac-to-opus", Args: args, Encode: enc, Decode: dec, Log: log})
}

// OpusToAAC converts Opus packets to AAC-LC at 48 kHz with the returned
// config, as HLS players (Safari's above all) play. out receives each AAC
// access unit with its media time.
func OpusToAAC(ctx context.Context, channels int, log *slog.Logger, out func(Frame)) (*Converter, *mpeg4audio.AudioSpecificConfig, error) {
	ch := min(max(channels, 1), 2)
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: uint8(ch)}
	args := append(audioInput(), "-f", "ogg", "-i", "pipe:0",
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", strconv.Itoa(ch),
		"-f", "adts", "-flush_packets", "1", "pipe:1")
	firstCh := make(chan time.Duration, 1)
	enc := func(w io.Writer) (func(Frame) error, error) {
		ow, err := oggwriter.NewWith(w, 48000, uint16(ch))
		if err != nil {
			return nil, err
		}
		var first time.Duration
		var seq uint16
		started := false
		return func(f Frame) error {
			if !started {
				first, started = f.PTS, true
				sendFirst(firstCh, f.PTS)
			}
			seq++
			ts := uint32((f.PTS - first) * 48000 / time.Second)
			return ow.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: f.Data})
		}, nil
	}
	dec := func(br *bufio.Reader) error {
		var start time.Duration
		var n int64
		for {
			au, err := ReadADTS(br)
			if err != nil {
				return err
			}
			if n == 0 {
				start = <-firstCh // output implies input: the first frame's time is known
			}
			pts := start + time.Duration(n*1024)*time.Second/48000
			n++
			out(Frame{PTS: pts, Data: au})
		}
	}
	c, err := Start(ctx, Config{Name: "opus-to-aac", Args: args, Encode: enc, Decode: dec, Log: log})
	return c, cfg, err
}

// ReadADTS reads one ADTS frame (ffmpeg's AAC output) and returns its
// access unit.
func ReadADTS(r *bufio.Reader) ([]byte, error) {
	hdr, err := r.Peek(7)
	if err != nil {
		return nil, err
	}
	if hdr[0] != 0xFF || hdr[1]&0xF0 != 0xF0 {
		return nil, errors.New("ffmpeg: lost ADTS sync")
	}
	size := int(hdr[3]&0x03)<<11 | int(hdr[4])<<3 | int(hdr[5])>>5
	if size < 7 {
		return nil, errors.New("ffmpeg: bad ADTS frame length")
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("ffmpeg: ADTS: %w", err)
	}
	if len(pkts) != 1 {
		return nil, errors.New("ffmpeg: ADTS frame with several access units")
	}
	return pkts[0].AU, nil
}
