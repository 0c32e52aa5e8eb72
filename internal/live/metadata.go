package live

import (
	"errors"
	"sync"
)

// ErrNoMetadataReader is returned by PutMetadata when no consumer of the
// stream can carry timed metadata.
var ErrNoMetadataReader = errors.New("live: no playback of this stream carries timed metadata")

// metadataReaders are the consumers that carry timed metadata
// (PutMetadata) into their output, e.g. LL-HLS muxers.
type metadataReaders struct {
	mu   sync.Mutex
	next int
	fns  map[int]func([]byte)
}

// OnMetadata registers fn to get every PutMetadata payload of the stream;
// the returned function unregisters it. fn must not block.
func (s *Stream) OnMetadata(fn func(data []byte)) (cancel func()) {
	m := &s.metadata
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fns == nil {
		m.fns = make(map[int]func([]byte))
	}
	id := m.next
	m.next++
	m.fns[id] = fn
	return func() {
		m.mu.Lock()
		delete(m.fns, id)
		m.mu.Unlock()
	}
}

// PutMetadata hands data to every metadata reader of the stream.
func (s *Stream) PutMetadata(data []byte) error {
	m := &s.metadata
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fns) == 0 {
		return ErrNoMetadataReader
	}
	for _, fn := range m.fns {
		fn(data)
	}
	return nil
}
