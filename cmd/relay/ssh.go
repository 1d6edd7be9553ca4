package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"switchboard/internal/relay"
	"switchboard/internal/sshd"
)

// sshFlags are the flags of the SSH front end.
type sshFlags struct {
	addr, hostKey string
	idle          time.Duration
	perKey        int
}

func defineSSHFlags(fs *flag.FlagSet) *sshFlags {
	f := &sshFlags{}
	fs.StringVar(&f.addr, "ssh-addr", "", "Serve the dashboard and the CLI over SSH at this address, host:port (e.g. :2222): ssh -p 2222 HOST opens the dashboard, ssh -p 2222 HOST agents runs a subcommand. Public keys only (relay token add-key). Off when empty.")
	fs.StringVar(&f.hostKey, "ssh-host-key", "", "The SSH host key's file, created on first start (ed25519, mode 0600). Default: ssh_host_ed25519_key beside the SQLite database (with PostgreSQL, in var/); relays sharing a database should share it.")
	fs.DurationVar(&f.idle, "ssh-idle-timeout", time.Hour, "Close an SSH dashboard whose user has typed nothing (no key, paste, click or resize) for this long; 0 never does.")
	fs.IntVar(&f.perKey, "ssh-sessions-per-key", 8, "How many SSH sessions, and connections, one key may have open at once.")
	return f
}

// sshWiring is what the SSH front end takes from the relay's other flags.
type sshWiring struct {
	store   relayStore
	spec    storeSpec
	relay   *relay.Relay
	cfg     relay.Config
	tls     bool
	log     *slog.Logger
	version string
}

// listen sets the SSH server up and binds its address; it returns nil
// when --ssh-addr is not given.
func (f *sshFlags) listen(w sshWiring) (serve func(context.Context) error, err error) {
	if f.addr == "" {
		return nil, nil
	}
	if w.cfg.NoAuth {
		return nil, errors.New("--ssh-addr needs authentication: SSH keys log in as tokens; drop --insecure-no-auth")
	}
	path := f.hostKey
	if path == "" {
		path = w.spec.besideDatabase("ssh_host_ed25519_key")
	}
	idle := f.idle
	if idle == 0 {
		idle = -1
	}
	srv, err := sshd.New(sshd.Config{Store: w.store, Relay: w.relay.Handler(), SessionCookie: relay.SessionCookie,
		HostKeyPath: path, PageURL: pageURL(w.cfg.Addr, w.cfg.AllowedHosts, w.tls), Version: w.version, Logger: w.log,
		SessionTTL: w.cfg.SessionTTL, IdleTimeout: idle, SessionsPerKey: f.perKey,
		MaxUnauthenticated: w.cfg.MaxUnauthenticated, MaxUnauthenticatedPerAddr: w.cfg.MaxUnauthenticatedPerAddr,
		AuthFailuresPerMinute: w.cfg.AuthFailuresPerMinute})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("listen for ssh on %s: %w", f.addr, err)
	}
	w.log.Info("ssh listening", "addr", ln.Addr().String())
	return func(ctx context.Context) error { return srv.Serve(ctx, ln) }, nil
}

// pageURL is the browser page's address as users reach it, for the
// sign-in links an SSH dashboard shows: the first --allowed-host, else
// the host of --addr, else (listening on every interface) this machine's
// name, with --addr's port.
func pageURL(addr string, allowed []string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	switch ip := net.ParseIP(host); {
	case len(allowed) > 0:
		host = allowed[0]
	case host == "" || ip != nil && ip.IsUnspecified():
		if name, err := os.Hostname(); err == nil {
			host = name
		}
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
