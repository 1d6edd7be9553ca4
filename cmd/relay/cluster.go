package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"switchboard/internal/cluster"
)

// clusterFlags are --cluster and what goes with it.
type clusterFlags struct {
	url, id, prefix *string
}

func defineClusterFlags(fs *flag.FlagSet) clusterFlags {
	return clusterFlags{
		url:    fs.String("cluster", "", "A NATS `URL` (nats://HOST:4222, with JetStream): join the other relays on it that share this one's PostgreSQL --store, as one system (README, \"Several relays\"). Needs a PostgreSQL --store."),
		id:     fs.String("relay-id", "", "This relay's id in the cluster: letters, digits, '-' and '_', unique among the relays; default the host name and the --addr port."),
		prefix: fs.String("cluster-prefix", "switchboard", "Names the NATS subjects and the JetStream stream the relays share: relays with another prefix on the same NATS form another cluster."),
	}
}

func (c clusterFlags) on() bool { return *c.url != "" }

// check refuses --cluster without a store the relays can share.
func (c clusterFlags) check(spec storeSpec) error {
	if *c.url == "" {
		return nil
	}
	if spec.postgres == "" {
		return errors.New("--cluster needs a store the relays share: --store postgres://…; a SQLite file is one relay's own")
	}
	if !strings.HasPrefix(*c.url, "nats://") && !strings.HasPrefix(*c.url, "tls://") {
		return fmt.Errorf("--cluster %q: want nats://HOST:PORT", *c.url)
	}
	return nil
}

// connect joins the bus; nil without --cluster.
func (c clusterFlags) connect(ctx context.Context, addr string, log *slog.Logger) (*cluster.Bus, error) {
	if *c.url == "" {
		return nil, nil
	}
	id := *c.id
	if id == "" {
		host, _ := os.Hostname()
		id = host + "-" + addr[strings.LastIndex(addr, ":")+1:]
		id = strings.Map(func(r rune) rune {
			if cluster.CheckID(string(r)) == nil {
				return r
			}
			return '-'
		}, id)
	}
	bus, err := cluster.Connect(ctx, cluster.Config{URL: *c.url, ID: id, Prefix: *c.prefix, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("relay joined the cluster", "relay_id", id, "nats", *c.url, "prefix", *c.prefix)
	return bus, nil
}
