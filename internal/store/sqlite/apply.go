package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

// writeStmts are prepared once on the writer and bound to each batch's
// transaction, so no batch parses SQL.
type writeStmts struct {
	agent, command, chunk, chunkLen, event, audit *sql.Stmt
}

var (
	upsertAgent   = sqlrow.Upsert("agents", sqlrow.AgentColumns, question)
	upsertCommand = sqlrow.Upsert("commands", sqlrow.CommandColumns, question)
)

// Chunks and events are immutable once written, so a second copy (a resend
// after a reconnect, a retried batch) is dropped. DO NOTHING, unlike INSERT
// OR IGNORE, drops only key conflicts and still fails on a bad value.
const (
	insertChunk    = "INSERT INTO output (command_id, off, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
	selectChunkLen = "SELECT length(data) FROM output WHERE command_id = ? AND off = ?"
	insertEvent    = "INSERT INTO events (seq, at, kind, subject, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

func prepareWrites(ctx context.Context, w *sql.DB) (writeStmts, error) {
	var s writeStmts
	err := prepareAll(ctx, w, map[**sql.Stmt]string{
		&s.agent:    upsertAgent,
		&s.command:  upsertCommand,
		&s.chunk:    insertChunk,
		&s.chunkLen: selectChunkLen,
		&s.event:    insertEvent,
		&s.audit:    insertAudit,
	})
	return s, err
}

func (s writeStmts) close() error {
	return closeAll(s.agent, s.command, s.chunk, s.chunkLen, s.event, s.audit)
}

// Apply writes b in one transaction, in the order agents, commands, output,
// events. On error nothing of b is stored and the same batch can be applied
// again.
//
// Output bytes already stored are kept, not rewritten: the bytes at an
// offset never change. Callers trim output they know is stored (protocol
// rule 3); Load's output end relies on no chunk lying wholly inside
// another.
func (db *DB) Apply(ctx context.Context, b *store.Batch) error {
	if b.Empty() {
		return nil
	}
	if err := db.apply(ctx, b); err != nil {
		return fmt.Errorf("store %s: apply batch of %d agents, %d commands, %d output chunks, %d events: %w%s",
			db.path, len(b.Agents), len(b.Commands), len(b.Output), len(b.Events), err, diagnose(db.path, err))
	}
	db.written.Add(b.DataBytes())
	return nil
}

func (db *DB) apply(ctx context.Context, b *store.Batch) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // err says why; SQLite may have rolled back already
		}
	}()
	for _, write := range []func(context.Context, *sql.Tx, *store.Batch) error{
		db.writeAgents, forgetAgents, db.writeCommands, db.writeOutput, db.writeTiming, db.writeEvents, db.writeAudit,
	} {
		if err := write(ctx, tx, b); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (db *DB) writeAgents(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	stmt := tx.StmtContext(ctx, db.writes.agent)
	for i := range b.Agents {
		if _, err := stmt.ExecContext(ctx, sqlrow.AgentArgs(&b.Agents[i])...); err != nil {
			return fmt.Errorf("agent %s: %w", b.Agents[i].ID, err)
		}
	}
	return nil
}

func forgetAgents(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	for _, id := range b.ForgetAgents {
		for _, q := range sqlrow.ForgetAgent {
			if _, err := tx.ExecContext(ctx, q(question), id); err != nil {
				return fmt.Errorf("forget agent %s: %w", id, err)
			}
		}
	}
	return nil
}

func (db *DB) writeCommands(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	stmt := tx.StmtContext(ctx, db.writes.command)
	for i := range b.Commands {
		if _, err := stmt.ExecContext(ctx, sqlrow.CommandArgs(&b.Commands[i])...); err != nil {
			return fmt.Errorf("command %s: %w", b.Commands[i].ID, err)
		}
	}
	return nil
}

func (db *DB) writeOutput(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	insert := tx.StmtContext(ctx, db.writes.chunk)
	for _, c := range b.Output {
		if err := db.writeChunk(ctx, tx, insert, c); err != nil {
			return fmt.Errorf("output %s at %d: %w", c.CommandID, c.Offset, err)
		}
	}
	return nil
}

// writeChunk stores what of c is not stored yet at its offset. A resend cut
// longer than the chunk stored at the same offset keeps its tail as a chunk
// of its own, so re-chunked output loses nothing.
func (db *DB) writeChunk(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, c store.Chunk) error {
	for len(c.Data) > 0 { // an empty row would cover no bytes and confuse ReadOutput
		res, err := insert.ExecContext(ctx, c.CommandID, c.Offset, c.Data)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var stored int
		err = tx.StmtContext(ctx, db.writes.chunkLen).QueryRowContext(ctx, c.CommandID, c.Offset).Scan(&stored)
		if err != nil {
			return fmt.Errorf("length of the chunk stored there: %w", err)
		}
		stored = min(stored, len(c.Data))
		c.Offset, c.Data = c.Offset+int64(stored), c.Data[stored:]
	}
	return nil
}

func (db *DB) writeEvents(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	stmt := tx.StmtContext(ctx, db.writes.event)
	for _, e := range b.Events {
		if _, err := stmt.ExecContext(ctx, int64(e.Seq), sqlrow.Nanos(e.At), e.Kind, e.Subject, e.Data); err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
	}
	return nil
}

// prepareAll prepares each query into its statement.
func prepareAll(ctx context.Context, db *sql.DB, stmts map[**sql.Stmt]string) error {
	for dst, query := range stmts {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", query, err)
		}
		*dst = s
	}
	return nil
}

func closeAll(stmts ...*sql.Stmt) error {
	var errs []error
	for _, s := range stmts {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// question is SQLite's placeholder for every argument.
func question(int) string { return "?" }
