package chat

// Queued returns how many frames wait in the queues of a room's clients
// who are userID (for tests).
func (s *Server) Queued(roomID, userID string) int {
	n := 0
	for _, c := range s.clients(roomID) {
		if c.claims.UserID == userID {
			c.qmu.Lock()
			n += len(c.queue)
			c.qmu.Unlock()
		}
	}
	return n
}
