package record

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spool is a durable first-in first-out queue of objects on their way to
// storage: Put writes an object to a file (synced) and returns; one
// uploader sends the objects in order, retrying with backoff until the
// store takes each, and removes it then. Order matters: a playlist
// written twice must arrive in that order. A restart resumes what the
// spool holds. It is bounded in bytes.
type Spool struct {
	dir   string
	store Storage
	max   int64
	log   *slog.Logger

	mu    sync.Mutex
	size  int64
	seq   uint64
	count int
	wake  chan struct{}
	idle  chan struct{} // closed while empty; replaced when an object comes
	// uploaded is told the note of each noted object that reached storage.
	uploaded func(note []byte)
	// skip are the objects not to upload (dropped from the spool instead).
	skip []func(bucket, key string) bool
}

// spoolMeta is what a spooled object's .json file holds.
type spoolMeta struct {
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	ContentType string `json:"contentType"`
	// Note is what the uploader hands to OnUploaded once the object is
	// in storage (a recording's segment row in a cluster).
	Note json.RawMessage `json:"note,omitempty"`
}

// OpenSpool opens (or creates) the spool in dir, with what an earlier run
// left in it.
func OpenSpool(dir string, store Storage, maxBytes int64, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("record: spool: %w", err)
	}
	s := &Spool{dir: dir, store: store, max: maxBytes, log: log.With("component", "spool"), wake: make(chan struct{}, 1)}
	items, err := s.items()
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if fi, err := os.Stat(filepath.Join(dir, it+".obj")); err == nil {
			s.size += fi.Size()
		}
		if n, err := strconv.ParseUint(it, 10, 64); err == nil && n >= s.seq {
			s.seq = n + 1
		}
	}
	s.count = len(items)
	s.idle = make(chan struct{})
	if s.count == 0 {
		close(s.idle)
	} else {
		s.log.Info("resuming uploads left from the last run", "objects", s.count, "bytes", s.size)
	}
	return s, nil
}

// items returns the complete spooled objects, oldest first: those whose
// .json exists (it is written last).
func (s *Spool) items() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("record: spool: %w", err)
	}
	var out []string
	for _, de := range des {
		if name, ok := strings.CutSuffix(de.Name(), ".json"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out) // zero-padded sequence numbers
	return out, nil
}

// Put queues an object. It fails with ErrSpoolFull when the spool holds
// its limit, and with the file system's error when it cannot be written.
func (s *Spool) Put(bucket, key string, body []byte, contentType string) error {
	return s.PutNoted(bucket, key, body, contentType, nil)
}

// PutNoted queues an object as Put does, with a note (JSON) that the
// uploader hands to OnUploaded's function once the object is in storage,
// also after a restart.
func (s *Spool) PutNoted(bucket, key string, body []byte, contentType string, note json.RawMessage) error {
	s.mu.Lock()
	if s.size+int64(len(body)) > s.max {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d bytes waiting, limit %d", ErrSpoolFull, s.size, s.max)
	}
	name := fmt.Sprintf("%020d", s.seq)
	s.seq++
	s.size += int64(len(body))
	s.mu.Unlock()

	meta, _ := json.Marshal(spoolMeta{Bucket: bucket, Key: key, ContentType: contentType, Note: note})
	if err := writeSynced(filepath.Join(s.dir, name+".obj"), body); err != nil {
		s.unreserve(int64(len(body)))
		return err
	}
	if err := writeSynced(filepath.Join(s.dir, name+".json"), meta); err != nil {
		_ = os.Remove(filepath.Join(s.dir, name+".obj"))
		s.unreserve(int64(len(body)))
		return err
	}
	s.mu.Lock()
	if s.count == 0 {
		s.idle = make(chan struct{})
	}
	s.count++
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

func (s *Spool) unreserve(n int64) {
	s.mu.Lock()
	s.size -= n
	s.mu.Unlock()
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("record: spool: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		_ = os.Remove(path + ".tmp")
		return fmt.Errorf("record: spool: %w", err)
	}
	return nil
}

// OnUploaded sets the function told the note of each noted object that
// reached storage (PutNoted). Set it before Run.
func (s *Spool) OnUploaded(fn func(note []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploaded = fn
}

// Skip drops, instead of uploading, the spooled objects (those there now
// and those to come) for which match is true.
func (s *Spool) Skip(match func(bucket, key string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skip = append(s.skip, match)
}

// skipped says whether an object is to be dropped (Skip).
func (s *Spool) skipped(bucket, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, match := range s.skip {
		if match(bucket, key) {
			return true
		}
	}
	return false
}

// Pending returns how many objects and bytes wait for upload.
func (s *Spool) Pending() (objects int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.size
}

// Drained returns a channel closed while the spool is empty.
func (s *Spool) Drained() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

// Run uploads until ctx ends.
func (s *Spool) Run(ctx context.Context) {
	backoff := time.Second
	for {
		items, err := s.items()
		if err != nil {
			s.log.Error("spool", "err", err)
		}
		for _, it := range items {
			for {
				err := s.upload(ctx, it)
				if err == nil {
					backoff = time.Second
					break
				}
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("upload failed, retrying", "err", err, "in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(5 * time.Second):
		}
	}
}

// upload sends one spooled object and removes it.
func (s *Spool) upload(ctx context.Context, name string) error {
	metaPath, objPath := filepath.Join(s.dir, name+".json"), filepath.Join(s.dir, name+".obj")
	raw, err := os.ReadFile(metaPath)
	if err != nil {
		return fmt.Errorf("record: spool: %w", err)
	}
	var m spoolMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		s.log.Error("dropping a spooled object with a broken description", "name", name, "err", err)
		s.remove(metaPath, objPath, 0)
		return nil
	}
	body, err := os.ReadFile(objPath)
	if err != nil {
		return fmt.Errorf("record: spool: %w", err)
	}
	if s.skipped(m.Bucket, m.Key) {
		s.log.Info("not uploading a stale object", "bucket", m.Bucket, "key", m.Key)
		s.remove(metaPath, objPath, int64(len(body)))
		return nil
	}
	uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := s.store.Put(uctx, m.Bucket, m.Key, body, m.ContentType); err != nil {
		return err
	}
	s.mu.Lock()
	uploaded := s.uploaded
	s.mu.Unlock()
	if uploaded != nil && len(m.Note) > 0 {
		uploaded(m.Note)
	}
	s.remove(metaPath, objPath, int64(len(body)))
	return nil
}

func (s *Spool) remove(metaPath, objPath string, n int64) {
	_ = os.Remove(metaPath)
	_ = os.Remove(objPath)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size -= n
	s.count--
	if s.count == 0 {
		close(s.idle)
	}
}
