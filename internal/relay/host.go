package relay

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

// hostCheck decides which Host headers the relay answers, against DNS
// rebinding: a page on a name the attacker controls, resolved to the
// relay's address, sends that name as Host (and as its Origin, which then
// looks same-origin). Such a page cannot send an IP address or
// "localhost" as Host without being on that origin itself, so those are
// always accepted, with the listen address's host and the configured
// names. Static after construction.
type hostCheck struct {
	on    bool
	names []string // lower case, without a port or a trailing dot
}

func newHostCheck(cfg Config) hostCheck {
	hc := hostCheck{on: cfg.NoAuth || len(cfg.AllowedHosts) > 0, names: []string{"localhost"}}
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && host != "" {
		hc.names = append(hc.names, normalHost(host))
	}
	for _, h := range cfg.AllowedHosts {
		hc.names = append(hc.names, normalHost(h))
	}
	return hc
}

// normalHost is a Host header's name: lower case, without its port,
// brackets or trailing dot.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// allows reports whether a request with this Host header may be served.
func (hc hostCheck) allows(host string) bool {
	if !hc.on {
		return true
	}
	h := normalHost(host)
	return net.ParseIP(h) != nil || slices.Contains(hc.names, h)
}

// Guard wraps h (the relay's handler and whatever is mounted beside it,
// such as the browser page) with the Host check. Handler applies it too.
func (r *Relay) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.hosts.allows(req.Host) {
			r.metrics.refused.WithLabelValues("host").Inc()
			r.log.Warn("refused a request for a host name this relay does not serve", "host", req.Host, "remote", req.RemoteAddr, "path", req.URL.Path)
			http.Error(w, fmt.Sprintf("this relay does not serve the host name %q; if it is yours, start the relay with --allowed-host %s",
				req.Host, normalHost(req.Host)), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, req)
	})
}
