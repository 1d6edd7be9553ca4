package relay

import (
	"log/slog"
	"switchboard/internal/hub"
	"time"
)

// Config tunes a Relay. Zero values take the defaults noted.
type Config struct {
	Version          string        // reported in welcome; default "dev"
	Logger           *slog.Logger  // default slog.Default()
	AgentTimeout     time.Duration // silence after which an agent is offline; default 15s
	DashboardTimeout time.Duration // the same for dashboards; default 30s
	LostAfter        time.Duration // offline time after which running commands are lost; default 2m
	HandshakeTimeout time.Duration // time allowed for hello; default 10s
	HeartbeatEvery   time.Duration // agent heartbeat period announced in welcome; default 5s
	// ExitWait is how long the relay waits, after an agent's exited, for
	// output it announced but did not send; then the missing bytes count
	// as lost and the command ends. Default 10s.
	ExitWait       time.Duration
	SendQueueBytes int64 // bytes queued to one peer before it is cut off; default 16 MiB
	TailBytes      int   // output kept in memory per command for resuming; default 1 MiB
	RecentCommands int   // final commands kept in memory and in snapshots; default 100
	// NoAuth turns authentication off: every connection acts as an
	// anonymous admin. Only for loopback-only relays (cmd/relay enforces).
	NoAuth bool
	// AllowedOrigins are browser origins, besides the relay's own, whose
	// pages may open dashboard WebSockets (e.g. "https://ops.example.com").
	AllowedOrigins []string
	// Addr is the address the relay listens on (host:port); its host is
	// one of the names the Host check accepts.
	Addr string
	// AllowedHosts are more names the relay may be reached by. A request
	// whose Host header names none of them, nor Addr's host, "localhost"
	// or an IP address, is refused: a page on another name that resolves
	// to the relay's address (DNS rebinding) gets nothing. The check is
	// always on with NoAuth, and with authentication once any is given.
	AllowedHosts     []string
	MaxConnsPerToken int     // open connections per token; default 64
	RunsPerSecond    float64 // run requests per dashboard connection; default 10 (burst 4x)
	InputPerSecond   float64 // input frames per dashboard connection; default 2000 (burst 4x)
	// MaxUnauthenticated bounds the connections that have not yet
	// authenticated (TCP connections that sent no request yet, counted
	// where ConnState is wired, and WebSockets until their hello is
	// accepted): default 256 in total, and MaxUnauthenticatedPerAddr
	// (default 32) from one address (an IPv4 address or an IPv6 /64).
	MaxUnauthenticated        int
	MaxUnauthenticatedPerAddr int
	// AuthFailuresPerMinute is how many failed authentications an address
	// may have in a minute (refilled evenly) before its connections and
	// logins are refused unchecked until its budget refills; default 10.
	AuthFailuresPerMinute int
	// What an agent may declare (see identity.go): agents registered per
	// agent token (default 1), labels per agent (default 32), bytes of a
	// label's name and of its value (default 64 and 256), and sessions
	// open at once per agent (default 16).
	AgentsPerToken   int
	MaxLabels        int
	MaxLabelKey      int
	MaxLabelValue    int
	MaxAgentSessions int
	// SessionTTL is how long a browser session lasts (at most its token's
	// own lifetime); default 24h.
	SessionTTL time.Duration
	// NotifyURL, if set, is an http(s) URL that gets a JSON NotifyEvent
	// POSTed whenever a command starts or stops waiting (notifyurl.go).
	NotifyURL string
	// Retention, when it sets a limit, removes old finished commands
	// (relay --retain, --max-db-size; internal/hub/retention.go).
	Retention hub.Retention
	// IndexBusyShare is the share of the time the search indexer may work
	// while the relay is short of CPU (relay --index-busy-share; default
	// 0.1; internal/hub/pace.go).
	IndexBusyShare float64
	// NoReadPoller reads every agent from a goroutine of its own instead
	// of from a few epoll pollers (see poller_linux.go). Pollers are used
	// on Linux for agents on plain TCP; TLS connections and dashboards
	// always have their own reader.
	NoReadPoller bool
	// Bus, if set, makes this relay one of several sharing the store
	// (relay --cluster; internal/cluster); nil: a relay on its own.
	Bus hub.Bus
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AgentTimeout, 15*time.Second)
	def(&c.DashboardTimeout, 30*time.Second)
	def(&c.LostAfter, 2*time.Minute)
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.HeartbeatEvery, 5*time.Second)
	def(&c.ExitWait, 10*time.Second)
	def(&c.SessionTTL, 24*time.Hour)
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 16 << 20
	}
	if c.TailBytes <= 0 {
		c.TailBytes = 1 << 20
	}
	if c.RecentCommands <= 0 {
		c.RecentCommands = 100
	}
	if c.MaxConnsPerToken <= 0 {
		c.MaxConnsPerToken = 64
	}
	if c.RunsPerSecond <= 0 {
		c.RunsPerSecond = 10
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&c.AgentsPerToken, 1}, {&c.MaxLabels, 32}, {&c.MaxLabelKey, 64}, {&c.MaxLabelValue, 256}, {&c.MaxAgentSessions, 16}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.MaxUnauthenticated <= 0 {
		c.MaxUnauthenticated = 256
	}
	if c.MaxUnauthenticatedPerAddr <= 0 {
		c.MaxUnauthenticatedPerAddr = 32
	}
	if c.AuthFailuresPerMinute <= 0 {
		c.AuthFailuresPerMinute = 10
	}
	if c.InputPerSecond <= 0 {
		c.InputPerSecond = 2000
	}
}

// NotifyEvent is the JSON body posted to Config.NotifyURL.
type NotifyEvent = hub.NotifyEvent
