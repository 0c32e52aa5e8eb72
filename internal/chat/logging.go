package chat

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Chat logging: every MESSAGE and EVENT of a room with logging
// configurations is written, as IVS writes it to S3, to each
// configuration's bucket: gzipped JSON lines of
// {"event_timestamp","type","version":"1.0","payload":<the frame>} under
// AWSLogs/{account}/IVSChatLogs/1.0/{region}/room_{id}/YYYY/MM/DD/HH/
// {account}_IVSChatLogs_1.0_{region}_room_{id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz.
// Records are batched per bucket and room and flushed every flushEvery
// (IVS's S3 delivery takes about 5 minutes) and when the server closes.

// defaultLogFlush is how often buffered chat logs go to their buckets.
const defaultLogFlush = time.Minute

// maxLogBatch flushes a batch early once it holds this many bytes.
const maxLogBatch = 4 << 20

type logRecord struct {
	EventTimestamp string          `json:"event_timestamp"`
	Type           string          `json:"type"`
	Version        string          `json:"version"`
	Payload        json.RawMessage `json:"payload"`
}

type logKey struct{ bucket, roomARN string }

// chatLog batches log records per bucket and room.
type chatLog struct {
	put   func(bucket, key string, body []byte, contentType string) error
	log   interface{ Error(string, ...any) }
	mu    sync.Mutex
	batch map[logKey]*bytes.Buffer
}

// record appends a frame of room to the batches of its logging
// configurations' buckets.
func (s *Server) record(ctx context.Context, roomID, typ string, frame []byte) {
	if s.logs == nil {
		return
	}
	rm, err := s.cfg.Rooms.RoomByID(ctx, roomID)
	if err != nil || len(rm.LoggingConfigurationIdentifiers) == 0 {
		return
	}
	line := mustJSON(logRecord{EventTimestamp: sendTime(time.Now()), Type: typ, Version: "1.0", Payload: frame})
	for _, arn := range rm.LoggingConfigurationIdentifiers {
		lc, err := s.cfg.Rooms.GetLoggingConfiguration(ctx, arn)
		if err != nil || lc.DestinationConfiguration.S3 == nil {
			continue // deleted meanwhile, or not a bucket
		}
		s.logs.add(logKey{lc.DestinationConfiguration.S3.BucketName, rm.ARN}, line)
	}
}

func (l *chatLog) add(k logKey, line []byte) {
	l.mu.Lock()
	b := l.batch[k]
	if b == nil {
		b = new(bytes.Buffer)
		l.batch[k] = b
	}
	b.Write(line)
	b.WriteByte('\n')
	full := b.Len() >= maxLogBatch
	l.mu.Unlock()
	if full {
		l.flush(time.Now())
	}
}

// flush writes every batch as one gzipped object.
func (l *chatLog) flush(now time.Time) {
	l.mu.Lock()
	batches := l.batch
	l.batch = make(map[logKey]*bytes.Buffer)
	l.mu.Unlock()
	for k, b := range batches {
		a, err := ivs.ParseARN("roomArn", k.roomARN)
		if err != nil {
			continue
		}
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(b.Bytes())
		_ = zw.Close()
		if err := l.put(k.bucket, logObjectKey(a, now), z.Bytes(), "application/gzip"); err != nil {
			l.log.Error("chat log lost", "room", k.roomARN, "bucket", k.bucket, "bytes", b.Len(), "err", err)
		}
	}
}

// logObjectKey is the S3 key IVS gives a chat log object of room a.
func logObjectKey(a ivs.ARN, t time.Time) string {
	t = t.UTC()
	var h [8]byte
	_, _ = rand.Read(h[:])
	base := fmt.Sprintf("%s_IVSChatLogs_1.0_%s_room_%s", a.Account, a.Region, a.ID)
	return strings.Join([]string{"AWSLogs", a.Account, "IVSChatLogs", "1.0", a.Region, "room_" + a.ID,
		t.Format("2006"), t.Format("01"), t.Format("02"), t.Format("15"),
		base + "_" + t.Format("20060102T1504Z") + "_" + hex.EncodeToString(h[:]) + ".log.gz"}, "/")
}

// runLogs flushes the batches every period until ctx ends, then once more.
func (l *chatLog) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			l.flush(now)
		case <-ctx.Done():
			l.flush(time.Now())
			return
		}
	}
}
