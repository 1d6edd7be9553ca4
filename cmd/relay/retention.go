package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"switchboard/internal/flagenv"
	"switchboard/internal/hub"
	"switchboard/internal/store/sqlite"
)

// retentionFlags are the flags of stored history's upkeep: --retain,
// --max-db-size and --retention-every, and --index-busy-share for its
// search index.
type retentionFlags struct {
	retain     *time.Duration
	maxSize    flagenv.ByteSize
	every      *time.Duration
	indexShare *float64
}

func defineRetentionFlags(fs *flag.FlagSet) *retentionFlags {
	r := &retentionFlags{}
	r.retain = fs.Duration("retain", 0, "Remove each finished command (its record, output and timing) this long after it ended, e.g. 720h; 0 keeps history forever. Queued and running commands are never removed.")
	fs.Var(&r.maxSize, "max-db-size", "Past this `SIZE` of history in the store (e.g. 10G; SQLite: pages in use; PostgreSQL: its tables on disk, less what removals left free in them), remove the oldest finished commands until it is under 95% of it. Unset: no limit.")
	r.every = fs.Duration("retention-every", 0, "How often retention looks for what to remove (default: a quarter of --retain, between 1s and 1m, and 10s with --max-db-size).")
	r.indexShare = fs.Float64("index-busy-share", 0.1, "The share of the time (over 0, at most 1) the search indexer may work while the relay's goroutines wait for a CPU; it rests the remainder, so that streaming comes first, and its lag shows in /metrics. 1: it never rests.")
	return r
}

// config is the hub's retention settings.
func (r *retentionFlags) config() (hub.Retention, error) {
	if *r.retain < 0 || *r.every < 0 {
		return hub.Retention{}, fmt.Errorf("--retain %v, --retention-every %v: want positive durations", *r.retain, *r.every)
	}
	if !(*r.indexShare > 0 && *r.indexShare <= 1) {
		return hub.Retention{}, fmt.Errorf("--index-busy-share %v: want a share over 0 and at most 1", *r.indexShare)
	}
	return hub.Retention{Retain: *r.retain, MaxSize: int64(r.maxSize), Every: *r.every}, nil
}

// prepareStore converts a SQLite file made before incremental
// auto-vacuum, without which removed rows' pages are reused but the file
// never shrinks: once, at the first start with a retention limit, logged
// before and after since it rewrites the whole file.
func prepareStore(ctx context.Context, st relayStore, c hub.Retention, log *slog.Logger) error {
	db, ok := st.(*sqlite.DB)
	if !ok || c.Retain == 0 && c.MaxSize == 0 {
		return nil
	}
	mode, err := db.AutoVacuum(ctx)
	if err != nil || mode == sqlite.AutoVacuumIncremental {
		return err
	}
	log.Warn("converting the database to incremental auto-vacuum for retention: a one-time VACUUM that rewrites the file (as long as copying it; it needs as much free disk again)")
	start := time.Now()
	if _, err := db.ConvertToIncremental(ctx); err != nil {
		return err
	}
	log.Info("database converted to incremental auto-vacuum", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
