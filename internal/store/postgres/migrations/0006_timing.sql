-- When each piece of a command's output was produced, its terminal's
-- resizes and (where the agent records it) its input: timing sections as
-- the relay merged them, keyed by the number of their first record. A
-- resent section collides with the row stored at its number, and only
-- its records past that row's end go in, as a row of their own. Rows may
-- overlap (after a relay restart an agent resends from the oldest record
-- it holds); readers skip the records they have.
CREATE TABLE timing (
	command_id text COLLATE "C" NOT NULL,
	seq        bigint NOT NULL,        -- the number of the first record
	end_seq    bigint NOT NULL,        -- the number after the last
	data       bytea NOT NULL,
	PRIMARY KEY (command_id, seq)
);
