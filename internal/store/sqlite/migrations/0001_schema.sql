-- Times are unix nanoseconds (UTC), 0 meaning the zero time. Empty lists
-- and maps are NULL, so nil and empty read back alike, as the wire's
-- omitempty treats them.
--
-- There are no foreign keys: checking one costs a parent lookup per output
-- chunk on the hot path, and the relay, which writes every row, already
-- keeps commands and output consistent.

CREATE TABLE agents (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	labels         TEXT,               -- JSON object
	hostname       TEXT NOT NULL,
	os             TEXT NOT NULL,
	arch           TEXT NOT NULL,
	version        TEXT NOT NULL,
	max_concurrent INTEGER NOT NULL,
	status         TEXT NOT NULL,
	running        INTEGER NOT NULL,
	last_seen      INTEGER NOT NULL
) STRICT;

CREATE TABLE commands (
	id           TEXT PRIMARY KEY,
	agent_id     TEXT NOT NULL,
	agent_name   TEXT NOT NULL,
	argv         TEXT,                 -- JSON array; NULL for a shell command
	shell        TEXT NOT NULL,
	cwd          TEXT NOT NULL,
	env          TEXT,                 -- JSON object
	term_cols    INTEGER NOT NULL,
	term_rows    INTEGER NOT NULL,
	timeout_ms   INTEGER NOT NULL,
	session      INTEGER NOT NULL,     -- 0 or 1
	state        TEXT NOT NULL,
	exit_code    INTEGER,              -- NULL: no exit code
	signal       TEXT NOT NULL,
	reason       TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	started_at   INTEGER NOT NULL,
	ended_at     INTEGER NOT NULL,
	duration_ms  INTEGER NOT NULL,
	output_bytes INTEGER NOT NULL,
	lost_bytes   INTEGER NOT NULL
) STRICT;

-- Load finds the live commands by state; History and Load's recent list
-- walk creation order, per agent or overall. id breaks ties so that the
-- order is stable without a sort.
CREATE INDEX commands_state ON commands (state);
CREATE INDEX commands_agent_created ON commands (agent_id, created_at, id);
CREATE INDEX commands_created ON commands (created_at, id);

-- One row per chunk as the agent sent it. Keyed by position, so a resent
-- chunk collides with itself and is ignored.
--
-- Not WITHOUT ROWID, though the key is composite: there a seek compares
-- whole rows, and a row whose blob spills onto overflow pages is read in
-- full for each comparison, which halved the insert rate of 4 and 64 KiB
-- chunks (BenchmarkApplyOutput). Here the key lives in a small index and
-- the blobs in a table that grows at its end.
CREATE TABLE output (
	command_id TEXT NOT NULL,
	off        INTEGER NOT NULL,       -- offset of data's first byte
	data       BLOB NOT NULL,
	PRIMARY KEY (command_id, off)
) STRICT;

CREATE TABLE events (
	seq     INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	subject TEXT NOT NULL,
	data    BLOB                       -- JSON, kept byte for byte
) STRICT;
