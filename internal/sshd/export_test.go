package sshd

import "time"

// SetTimings shortens the write stall and keepalive periods for a test.
func (s *Server) SetTimings(stall, keepAlive time.Duration) { s.stall, s.keepAlive = stall, keepAlive }

// Sessions is how many SSH sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
