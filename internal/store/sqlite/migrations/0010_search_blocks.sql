-- The full-text index holds blocks of up to 8 consecutive lines of a
-- command per row instead of one line (store.Blocks: writing the index
-- costs mostly per row). search_block's rowid is the order blocks were
-- indexed in, which Search returns newest first; search_fts indexes its
-- text (external content, so the text is stored once) without the
-- per-row column sizes that only ranking uses. The lines indexed before
-- are dropped and every command is indexed again, by the relay's indexer
-- in the background, from its output.
DROP TRIGGER search_line_delete;
DROP TABLE search_fts;
DROP TABLE search_line;
DELETE FROM search_cursor;

CREATE TABLE search_block (
	id         INTEGER PRIMARY KEY,
	command_id TEXT NOT NULL,
	n          INTEGER NOT NULL,       -- its first line's number among the command's indexed lines
	off        INTEGER NOT NULL,       -- offset of that line's first byte in the output
	offs       BLOB NOT NULL,          -- each next line's distance from the one before, as uvarints
	text       TEXT NOT NULL           -- the lines, escapes stripped, joined by "\n"
) STRICT;
CREATE UNIQUE INDEX search_block_command ON search_block (command_id, n);

CREATE VIRTUAL TABLE search_fts USING fts5(
	text, content = 'search_block', content_rowid = 'id', columnsize = 0,
	tokenize = 'unicode61 remove_diacritics 0'
);

-- Blocks deleted (a command's removal) leave the FTS index too. Blocks
-- are added to it by the statement that follows their insert (Index), not
-- by a trigger: FTS5 flushes its pending terms at every savepoint, and a
-- trigger's insert is one per row.
CREATE TRIGGER search_block_delete AFTER DELETE ON search_block BEGIN
	INSERT INTO search_fts (search_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
