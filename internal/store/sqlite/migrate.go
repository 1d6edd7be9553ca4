package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"switchboard/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations is the schema history, checked when the package loads.
var migrations = migrate.MustLoad(migrationFiles)

// runMigrations applies every migration not yet recorded in
// schema_migrations, all in one transaction: a failure leaves the schema as
// it was. It returns the versions it applied.
func runMigrations(ctx context.Context, db *sql.DB, ms []migrate.Migration) (applied []int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the migration error is the one to report
		}
	}()
	done, err := appliedVersions(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	todo, err := migrate.Pending(done, ms)
	if err != nil {
		return nil, err
	}
	for _, m := range todo {
		if err := runMigration(ctx, tx, m); err != nil {
			return nil, err
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		done[v] = true
	}
	return done, rows.Err()
}

func runMigration(ctx context.Context, tx *sql.Tx, m migrate.Migration) error {
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migrate: %s: %w", m.Name, err)
	}
	const record = "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"
	if _, err := tx.ExecContext(ctx, record, m.Version, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("migrate: record %s: %w", m.Name, err)
	}
	return nil
}
