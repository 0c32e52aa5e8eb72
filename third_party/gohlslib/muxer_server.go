package gohlslib

import (
	"net/http"
	"path/filepath"
	"sync"
)

type muxerServer struct {
	mutex        sync.RWMutex
	pathHandlers map[string]http.HandlerFunc
	files        map[string]*MuxerFile // onair: Muxer.File
}

func (s *muxerServer) initialize() {
	s.pathHandlers = make(map[string]http.HandlerFunc)
	s.files = make(map[string]*MuxerFile)
}

// onair: registerFile serves f at path, to Handle and to Muxer.File.
func (s *muxerServer) registerFile(path string, f *MuxerFile) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	s.pathHandlers[path] = f.serve
	s.files[path] = f
}

func (s *muxerServer) getFile(path string) (*MuxerFile, bool) {
	s.mutex.RLock()
	defer s.mutex.RUnlock()
	f, ok := s.files[path]
	return f, ok
}

func (s *muxerServer) registerPath(path string, cb http.HandlerFunc) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	s.pathHandlers[path] = cb
}

func (s *muxerServer) unregisterPath(path string) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	delete(s.pathHandlers, path)
	delete(s.files, path)
}

func (s *muxerServer) getPathHandler(path string) http.HandlerFunc {
	s.mutex.RLock()
	defer s.mutex.RUnlock()
	return s.pathHandlers[path]
}

func (s *muxerServer) handle(w http.ResponseWriter, r *http.Request) {
	path := filepath.Base(r.URL.Path)

	s.mutex.RLock()
	handler, ok := s.pathHandlers[path]
	s.mutex.RUnlock()

	if ok {
		handler(w, r)
	}
}
