-- The full-text index holds blocks of up to 8 consecutive lines of a
-- command per row instead of one line (store.Blocks: writing the index
-- costs mostly per row). tsv holds the block's tokens (store.Tokens of
-- each line, in order) through the 'simple' configuration; Search keeps
-- the lines of a matching block that match themselves. id is the order
-- blocks were indexed in, which Search returns newest first. The lines
-- indexed before are dropped and every command is indexed again, by the
-- relay's indexer in the background, from its output.
DROP TABLE search_line;
DELETE FROM search_cursor;

CREATE TABLE search_block (
	id         bigserial PRIMARY KEY,
	command_id text COLLATE "C" NOT NULL,
	n          bigint NOT NULL,        -- its first line's number among the command's indexed lines
	off        bigint NOT NULL,        -- offset of that line's first byte in the output
	offs       bytea NOT NULL,         -- each next line's distance from the one before, as uvarints
	text       text NOT NULL,          -- the lines, escapes stripped, joined by "\n"
	tsv        tsvector NOT NULL,
	UNIQUE (command_id, n)
);
CREATE INDEX search_block_tsv ON search_block USING gin (tsv);
