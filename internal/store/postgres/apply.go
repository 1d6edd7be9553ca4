package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlrow"
)

var (
	upsertAgent   = sqlrow.Upsert("agents", sqlrow.AgentColumns, dollar)
	upsertCommand = sqlrow.Upsert("commands", sqlrow.CommandColumns, dollar)
)

// Output and events are immutable once written, so a second copy (a resend
// after a reconnect, a retried batch) is dropped.
const (
	// insertOutput stores a batch's chunks in one statement from three
	// arrays (ids, offsets, data): one row to parse and plan however many
	// chunks there are, where a statement per chunk costs the server a
	// round of executor work each.
	insertOutput = `INSERT INTO output (command_id, off, data)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING`
	// selectStoredLen is, for each chunk (by position in the arrays), the
	// length of the row stored at its offset.
	selectStoredLen = `SELECT k.i, octet_length(o.data)
FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(id, off, i)
JOIN output o ON o.command_id = k.id AND o.off = k.off`
	insertEvent = "INSERT INTO events (seq, at, kind, subject, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
	insertAudit = `INSERT INTO audit (at, token, role, remote, action, subject, result, detail)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
)

// Apply writes b in one transaction, sent as one pipeline of statements in
// the order agents, forgotten agents, commands, output, timing, events, audit. On error nothing of b
// is stored and the same batch can be applied again.
//
// Output bytes already stored are kept, not rewritten: the bytes at an
// offset never change. A chunk resent cut longer than the row stored at its
// offset keeps its tail as a row of its own, so re-chunked output loses
// nothing.
//
// A batch that takes longer than a minute (a server that stopped
// answering, a table locked by someone else) is abandoned and rolled back,
// so that the caller can retry it on a new connection rather than wait for
// ever.
func (s *Store) Apply(ctx context.Context, b *store.Batch) error {
	if b.Empty() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.applyTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.w, func(tx pgx.Tx) error { return apply(ctx, tx, b) })
	if err != nil {
		return fmt.Errorf("store %s: apply batch of %d agents, %d commands, %d output chunks, %d events: %w%s",
			s.name, len(b.Agents), len(b.Commands), len(b.Output), len(b.Events), err, hint(err))
	}
	s.written.Add(b.DataBytes())
	return nil
}

func apply(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	var head, tail pipeline
	for i := range b.Agents {
		head.queue("agent "+b.Agents[i].ID, upsertAgent, cleanArgs(sqlrow.AgentArgs(&b.Agents[i]))...)
	}
	for _, id := range b.ForgetAgents {
		for _, sql := range sqlrow.ForgetAgent {
			head.queue("forget agent "+id, sql(dollar), clean(id))
		}
	}
	for i := range b.Commands {
		head.queue("command "+b.Commands[i].ID, upsertCommand, cleanArgs(sqlrow.CommandArgs(&b.Commands[i]))...)
	}
	for _, e := range b.Events {
		tail.queue("event "+strconv.FormatUint(e.Seq, 10), insertEvent,
			int64(e.Seq), sqlrow.Nanos(e.At), clean(e.Kind), clean(e.Subject), e.Data)
	}
	for _, e := range b.Audit {
		tail.queue("audit "+e.Action, insertAudit, cleanArgs([]any{sqlrow.Nanos(e.At), e.Token, e.Role, e.Remote,
			e.Action, e.Subject, e.Result, e.Detail})...)
	}
	if err := head.send(ctx, tx); err != nil {
		return err
	}
	if err := writeOutput(ctx, tx, newChunkArrays(b.Output)); err != nil {
		return fmt.Errorf("%d output chunks: %w", len(b.Output), err)
	}
	if err := writeTiming(ctx, tx, b.Timing); err != nil {
		return err
	}
	return tail.send(ctx, tx)
}

// pipeline is statements sent together and answered together: one round
// trip for all of them.
type pipeline struct {
	q    pgx.Batch
	what []string // what each statement writes, for its error
}

func (p *pipeline) queue(what, sql string, args ...any) {
	p.q.Queue(sql, args...)
	p.what = append(p.what, what)
}

func (p *pipeline) send(ctx context.Context, tx pgx.Tx) (err error) {
	if len(p.what) == 0 {
		return nil
	}
	res := tx.SendBatch(ctx, &p.q)
	defer func() {
		if cerr := res.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	for _, what := range p.what {
		if _, err := res.Exec(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// writeOutput stores a batch's chunks. COPY, which streams rows to the
// server with no statement per row, writes them straight into the table;
// a chunk that collides with a stored one (a resend) fails the COPY, and
// then, back at the savepoint taken before it, the chunks go in with
// insertOutput, which skips collisions, and what they hold past the rows
// in their way goes in after.
func writeOutput(ctx context.Context, tx pgx.Tx, c chunkArrays) error {
	if c.len() == 0 {
		return nil
	}
	copied, err := copyOutput(ctx, tx, c)
	if copied || err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, insertOutput, c.ids, c.offs, c.data)
	if err != nil {
		return err
	}
	if tag.RowsAffected() < int64(c.len()) {
		return writeTails(ctx, tx, c)
	}
	return nil
}

// copyOutput copies c into the output table under a savepoint. It reports
// false, with the savepoint rolled back, when a chunk collided with a
// stored one.
func copyOutput(ctx context.Context, tx pgx.Tx, c chunkArrays) (bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"output"}, []string{"command_id", "off", "data"},
		pgx.CopyFromSlice(c.len(), func(i int) ([]any, error) { return []any{c.ids[i], c.offs[i], c.data[i]}, nil }))
	if err == nil {
		return true, sp.Commit(ctx)
	}
	if !isUniqueViolation(err) {
		return false, err
	}
	return false, sp.Rollback(ctx)
}

// writeTails stores what chunks hold past the rows stored at their
// offsets, after some of them collided with stored rows: the tails, each
// at the end of the row in the way, go in as new chunks, until none is
// left.
func writeTails(ctx context.Context, tx pgx.Tx, c chunkArrays) error {
	for c.len() > 0 {
		rows, _ := tx.Query(ctx, selectStoredLen, c.ids, c.offs) // CollectRows reports its error
		stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[storedLen])
		if err != nil {
			return fmt.Errorf("output: lengths of the rows stored: %w", err)
		}
		var tails chunkArrays
		for _, r := range stored {
			i := r.I - 1
			if n := int64(len(c.data[i])); r.Len < n {
				tails.add(c.ids[i], c.offs[i]+r.Len, c.data[i][r.Len:])
			}
		}
		if tails.len() == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, insertOutput, tails.ids, tails.offs, tails.data); err != nil {
			return fmt.Errorf("output: %d tails: %w", tails.len(), err)
		}
		c = tails
	}
	return nil
}

// storedLen is a row of selectStoredLen.
type storedLen struct {
	I   int64 // the chunk's place in the arrays, from 1
	Len int64 // the length of the row stored at its offset
}

// chunkArrays are a batch's output chunks as insertOutput's arrays.
type chunkArrays struct {
	ids  []string
	offs []int64
	data [][]byte
}

func newChunkArrays(chunks []store.Chunk) chunkArrays {
	c := chunkArrays{
		ids:  make([]string, 0, len(chunks)),
		offs: make([]int64, 0, len(chunks)),
		data: make([][]byte, 0, len(chunks)),
	}
	for _, ch := range chunks {
		if len(ch.Data) > 0 { // an empty row would cover no bytes and confuse ReadOutput
			c.add(clean(ch.CommandID), ch.Offset, ch.Data)
		}
	}
	return c
}

func (c *chunkArrays) add(id string, off int64, data []byte) {
	c.ids, c.offs, c.data = append(c.ids, id), append(c.offs, off), append(c.data, data)
}

func (c *chunkArrays) len() int { return len(c.ids) }

// dollar is PostgreSQL's placeholder for the i-th argument.
func dollar(i int) string { return "$" + strconv.Itoa(i) }
