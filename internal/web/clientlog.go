package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Limits on client logs: a page in a loop must not flood the relay's log.
const (
	clientLogMaxBody = 64 << 10        // bytes of one request body
	clientLogMaxText = 8 << 10         // bytes of a message kept in the log
	clientLogRate    = 5               // entries per second, sustained, for the whole process
	clientLogBurst   = 50              // entries allowed at once
	dropReportEvery  = 1 * time.Minute // how often dropped entries are counted in the log
)

// clientEntry is what the page posts: one error or warning.
type clientEntry struct {
	Session string `json:"session"` // a random id the page picks when it loads
	Level   string `json:"level"`   // "error", "warn" or "info"
	Message string `json:"message"`
}

// clientLog writes the page's reports to the relay's log. One token bucket
// for the whole process limits the rate; what it refuses is counted and
// the count logged at most once a minute.
type clientLog struct {
	log         *slog.Logger
	rate, burst float64

	mu       sync.Mutex // guards the fields below
	tokens   float64
	last     time.Time // when tokens was last topped up
	dropped  int       // entries refused since the last report
	reported time.Time // when dropped was last logged
}

func newClientLog(log *slog.Logger, rate, burst float64) *clientLog {
	return &clientLog{log: log.With("source", "browser"), rate: rate, burst: burst, tokens: burst}
}

func (c *clientLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin client logs are not accepted", http.StatusForbidden)
		return
	}
	var e clientEntry
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, clientLogMaxBody)).Decode(&e)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "body exceeds 65536 bytes", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "body must be a JSON object {session, level, message}", http.StatusBadRequest)
		return
	}
	if !c.allow(time.Now()) {
		http.Error(w, "too many client log entries; try later", http.StatusTooManyRequests)
		return
	}
	c.log.Log(r.Context(), level(e.Level), "browser "+levelName(e.Level)+": "+clip(e.Message, clientLogMaxText),
		"session", clip(e.Session, 64), "remote", r.RemoteAddr, "user_agent", clip(r.UserAgent(), 256))
	w.WriteHeader(http.StatusNoContent)
}

// allow takes a token if one is left, and reports drops now and then.
func (c *clientLog) allow(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.last.IsZero() {
		c.tokens = min(c.burst, c.tokens+now.Sub(c.last).Seconds()*c.rate)
	}
	c.last = now
	if c.dropped > 0 && now.Sub(c.reported) >= dropReportEvery {
		c.log.Warn("browser log entries dropped by the rate limit", "dropped", c.dropped)
		c.dropped, c.reported = 0, now
	}
	if c.tokens < 1 {
		c.dropped++
		return false
	}
	c.tokens--
	return true
}

// sameOrigin refuses requests a browser sends from another site's page.
// Requests without an Origin (curl, old browsers for same-origin POSTs)
// are let through: the point is that other pages cannot write to our log.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func level(s string) slog.Level {
	switch s {
	case "error":
		return slog.LevelError
	case "warn":
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

func levelName(s string) string {
	switch s {
	case "error", "warn":
		return s
	default:
		return "info"
	}
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
