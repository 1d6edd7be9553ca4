package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"switchboard/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations is the schema history, checked when the package loads.
var migrations = migrate.MustLoad(migrationFiles)

// runMigrations applies every migration not yet recorded in
// schema_migrations, all in one transaction: a failure leaves the schema as
// it was. Relays starting together on one database take turns: the first
// migrates, the others then find nothing to do. It returns the versions it
// applied.
func runMigrations(ctx context.Context, pool *pgxpool.Pool, ms []migrate.Migration) (applied []int, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		done, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		todo, err := migrate.Pending(done, ms)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if err := runMigration(ctx, tx, m); err != nil {
				return err
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// appliedVersions takes the schema's migration lock, held until the
// transaction ends, and reads which versions are applied.
func appliedVersions(ctx context.Context, tx pgx.Tx) (map[int]bool, error) {
	const lock = "SELECT pg_advisory_xact_lock(hashtext('switchboard migrate ' || coalesce(current_schema(), '')))"
	if _, err := tx.Exec(ctx, lock); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at bigint NOT NULL
	)`
	if _, err := tx.Exec(ctx, create); err != nil {
		return nil, err
	}
	rows, _ := tx.Query(ctx, "SELECT version FROM schema_migrations") // CollectRows reports its error
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, err
	}
	done := map[int]bool{}
	for _, v := range versions {
		done[v] = true
	}
	return done, nil
}

func runMigration(ctx context.Context, tx pgx.Tx, m migrate.Migration) error {
	// Exec without arguments sends the file as one simple query, which may
	// hold many statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return fmt.Errorf("%s: %w", m.Name, err)
	}
	const record = "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)"
	if _, err := tx.Exec(ctx, record, m.Version, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("record %s: %w", m.Name, err)
	}
	return nil
}
