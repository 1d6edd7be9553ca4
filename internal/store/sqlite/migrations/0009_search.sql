-- The full-text index of output (internal/store/search.go): one row per
-- non-blank line, escapes stripped, written by the relay's indexer after
-- the output is stored. search_fts indexes search_line's text (an
-- external-content FTS5 table: the text is stored once, in search_line);
-- search_line's rowid is the order lines were indexed in, which Search
-- returns newest first. search_cursor is how far each command is indexed,
-- written in the same transaction as its lines.
CREATE TABLE search_line (
	id         INTEGER PRIMARY KEY,
	command_id TEXT NOT NULL,
	n          INTEGER NOT NULL,       -- the line's number among the command's indexed lines
	off        INTEGER NOT NULL,       -- offset of its first byte in the output
	text       TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX search_line_command ON search_line (command_id, n);

CREATE VIRTUAL TABLE search_fts USING fts5(
	text, content = 'search_line', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TABLE search_cursor (
	command_id TEXT PRIMARY KEY,
	off        INTEGER NOT NULL,       -- output before it is indexed
	n          INTEGER NOT NULL,       -- the next line's number
	done       INTEGER NOT NULL        -- 1: the command is final and indexed to its end
) STRICT;

-- Lines deleted (a command's removal) leave the FTS index too. Lines
-- are added to it by the statement that follows their insert (Index), not
-- by a trigger: FTS5 flushes its pending terms at every savepoint, and a
-- trigger's insert is one per row.
CREATE TRIGGER search_line_delete AFTER DELETE ON search_line BEGIN
	INSERT INTO search_fts (search_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
