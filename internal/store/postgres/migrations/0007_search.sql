-- The full-text index of output (internal/store/search.go): one row per
-- non-blank line, escapes stripped, written by the relay's indexer after
-- the output is stored. tsv holds the line's tokens (store.Tokens: runs
-- of letters and digits, lower case, cut in Go as SQLite's FTS5 cuts them)
-- through the 'simple' configuration, which keeps every word (no stop
-- words, no stemming), so both stores match the same lines. id is the
-- order lines were indexed in, which Search returns newest first.
-- search_cursor is how far each command is indexed, written in the same
-- transaction as its lines.
CREATE TABLE search_line (
	id         bigserial PRIMARY KEY,
	command_id text COLLATE "C" NOT NULL,
	n          bigint NOT NULL,        -- the line's number among the command's indexed lines
	off        bigint NOT NULL,        -- offset of its first byte in the output
	text       text NOT NULL,
	tsv        tsvector NOT NULL,
	UNIQUE (command_id, n)
);
CREATE INDEX search_line_tsv ON search_line USING gin (tsv);

CREATE TABLE search_cursor (
	command_id text COLLATE "C" PRIMARY KEY,
	off        bigint NOT NULL,        -- output before it is indexed
	n          bigint NOT NULL,        -- the next line's number
	done       boolean NOT NULL        -- the command is final and indexed to its end
);
