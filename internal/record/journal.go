package record

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// An open recording keeps a journal in Config.JournalDir: one JSON line
// when it starts, one per stream that joins it and one per segment it
// spools (after the segment, so a journal never names a segment the spool
// does not hold). A clean end removes it. After a crash, Recover finishes
// what the journals describe: final playlists, master playlist and
// recording-ended.json, as IVS would after a failure.

type journalLine struct {
	Start   *journalStart   `json:"start,omitempty"`
	Stream  string          `json:"stream,omitempty"`
	Segment *journalSegment `json:"segment,omitempty"`
}

type journalStart struct {
	ID      string                     `json:"id"`
	Bucket  string                     `json:"bucket"`
	Prefix  string                     `json:"prefix"`
	Config  ivs.RecordingConfiguration `json:"config"`
	Channel ivs.Channel                `json:"channel"`
	Source  string                     `json:"source"`
	Started time.Time                  `json:"started"`
	Stream  string                     `json:"stream"`
}

type journalSegment struct {
	Track  string        `json:"track"`
	Width  int           `json:"width"`
	Height int           `json:"height"`
	Codecs string        `json:"codecs"`
	Peak   int           `json:"peak"`
	File   string        `json:"file"`
	Dur    time.Duration `json:"dur"`
	Disc   bool          `json:"disc,omitempty"`
}

// journal appends a line to the recording's journal and syncs it. A
// journal that cannot be written is logged once and given up: the
// recording goes on, only its crash recovery is lost.
func (rec *recording) journal(l journalLine) {
	if rec.jf == nil {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		_, err = rec.jf.Write(append(b, '\n'))
	}
	if err == nil {
		err = rec.jf.Sync()
	}
	if err != nil {
		rec.r.log.Error("recording journal: crash recovery disabled for this recording", "prefix", rec.prefix, "err", err)
		_ = rec.jf.Close()
		rec.jf = nil
	}
}

// openJournal creates the recording's journal with its start line. The
// recording goes on without one if that fails.
func (rec *recording) openJournal(streamID string) error {
	dir := rec.r.cfg.JournalDir
	if dir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, rec.id+".jsonl"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record: journal of %s: crash recovery disabled for this recording: %w", rec.prefix, err)
	}
	rec.jf = f
	rec.journal(journalLine{Start: &journalStart{ID: rec.id, Bucket: rec.bucket, Prefix: rec.prefix, Config: rec.cfg,
		Channel: rec.channel, Source: rec.source, Started: rec.started, Stream: streamID}})
	return nil
}

// closeJournal removes the journal of a recording that ended.
func (rec *recording) closeJournal() {
	if rec.jf == nil {
		return
	}
	_ = rec.jf.Close()
	rec.jf = nil
	if err := os.Remove(filepath.Join(rec.r.cfg.JournalDir, rec.id+".jsonl")); err != nil {
		rec.r.log.Warn("recording journal", "err", err)
	}
}

// Recover finishes the recordings an earlier run left open (it crashed or
// was killed): each gets its playlists closed, its master playlist and
// recording-ended.json with RECORDING_ENDED_WITH_FAILURE, and a
// Recording End Failure event. Call it before streams attach (and before
// the spool runs). In a cluster a recording that another node already
// finished (this one was gone past the orphan grace) is not finished
// again: its segments still in the spool upload, its playlists in the
// spool are dropped, and a warning says so. It returns how many it
// finished.
func (r *Recorder) Recover() (int, error) {
	dir := r.cfg.JournalDir
	if dir == "" {
		return 0, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("record: journal: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return 0, fmt.Errorf("record: journal: %w", err)
	}
	n := 0
	for _, p := range paths {
		rec, err := r.readJournal(p)
		if err != nil {
			// Keep the file for an operator; it is not retried.
			r.log.Error("recording journal unreadable; the recording stays unfinished", "file", p, "err", err)
			_ = os.Rename(p, p+".bad")
			continue
		}
		rec.failure = interruptedReason
		if r.endShared(rec, rec.finish) {
			r.log.Warn("a recording this node left open was finished by another node while this one was gone: "+
				"its segments still in the spool upload, but are not in its playlists", "channel", rec.channel.ARN, "prefix", rec.prefix)
			n--
		}
		if err := os.Remove(p); err != nil {
			return n, fmt.Errorf("record: journal: %w", err)
		}
		n++
	}
	return n, nil
}

// readJournal rebuilds a recording from its journal. A torn last line (the
// crash came mid-write) is ignored.
func (r *Recorder) readJournal(path string) (*recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rec *recording
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			break
		}
		switch {
		case l.Start != nil:
			s := l.Start
			rec = &recording{r: r, id: s.ID, bucket: s.Bucket, prefix: s.Prefix, cfg: s.Config, channel: s.Channel,
				source: s.Source, started: s.Started, streamIDs: []string{s.Stream}, tracks: make(map[string]*trackState),
				endDone: make(chan struct{}), ended: true}
			if rec.channel.ID == "" { // not in the channel's JSON
				rec.channel.ID = rec.channel.ARN[strings.LastIndexByte(rec.channel.ARN, '/')+1:]
			}
		case rec == nil:
			return nil, fmt.Errorf("no start line")
		case l.Stream != "":
			rec.streamIDs = append(rec.streamIDs, l.Stream)
		case l.Segment != nil:
			s := l.Segment
			t := rec.tracks[s.Track]
			if t == nil {
				t = &trackState{name: s.Track}
				rec.tracks[s.Track] = t
			}
			t.width, t.height, t.codecs, t.peakBitrate = s.Width, s.Height, s.Codecs, s.Peak
			t.segments = append(t.segments, segment{file: s.File, dur: s.Dur, disc: s.Disc})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if rec == nil || !strings.HasPrefix(rec.prefix, "ivs/") {
		return nil, fmt.Errorf("no start line")
	}
	return rec, nil
}
