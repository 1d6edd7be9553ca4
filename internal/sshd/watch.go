package sshd

import (
	"context"
	"time"
)

// watch reloads keys and tokens every watchEvery, and ends the sessions
// whose key no longer logs in as their token, whose token was revoked or
// has expired, or whose server-side session has expired: within a
// second of the change, with a message saying why. (The relay closes
// their dashboard connections on its own too; this ends the SSH session
// and the commands it runs.)
func (s *Server) watch(ctx context.Context) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := s.keys.refresh(ctx); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("ssh: reload keys and tokens", "err", err)
				}
				continue
			}
			s.endInvalid(now)
		}
	}
}

// endInvalid ends the sessions that may no longer go on.
func (s *Server) endInvalid(now time.Time) {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for sc := range s.sessions {
		list = append(list, sc)
	}
	s.mu.Unlock()
	for _, sc := range list {
		switch why := s.keys.stillValid(sc.who, now); {
		case why != "":
			sc.end(why)
		case !now.Before(sc.until):
			sc.end("the session has expired (--session-ttl): connect again")
		}
	}
}
