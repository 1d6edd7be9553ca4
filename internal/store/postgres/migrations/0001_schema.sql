-- The schema of internal/store/sqlite, in PostgreSQL's types. Times are
-- unix nanoseconds (bigint; 0 meaning the zero time), which round trip
-- Go's times exactly, where timestamptz keeps microseconds. Lists and maps
-- are json (not jsonb, which refuses the escaped NUL a string may hold),
-- NULL when empty. Every integer is bigint: a value an agent sends must
-- never fail a batch for its size. Text that keys or orders rows is
-- COLLATE "C", so that orders are bytewise, as in SQLite, whatever the
-- database's locale.
--
-- No foreign keys, as in SQLite: checking one costs a lookup per output
-- row, and the relay, which writes every row, keeps them consistent.

CREATE TABLE agents (
	id             text COLLATE "C" PRIMARY KEY,
	name           text COLLATE "C" NOT NULL,
	labels         json,
	hostname       text NOT NULL,
	os             text NOT NULL,
	arch           text NOT NULL,
	version        text NOT NULL,
	max_concurrent bigint NOT NULL,
	status         text NOT NULL,
	running        bigint NOT NULL,
	last_seen      bigint NOT NULL,
	no_input       boolean NOT NULL
);

CREATE TABLE commands (
	id           text COLLATE "C" PRIMARY KEY,
	agent_id     text COLLATE "C" NOT NULL,
	agent_name   text NOT NULL,
	argv         json,                 -- NULL for a shell command
	shell        text NOT NULL,
	cwd          text NOT NULL,
	env          json,
	term_cols    bigint NOT NULL,
	term_rows    bigint NOT NULL,
	timeout_ms   bigint NOT NULL,
	session      boolean NOT NULL,
	state        text NOT NULL,
	exit_code    bigint,               -- NULL: no exit code
	signal       text NOT NULL,
	reason       text NOT NULL,
	requested_by text NOT NULL,
	created_at   bigint NOT NULL,
	started_at   bigint NOT NULL,
	ended_at     bigint NOT NULL,
	duration_ms  bigint NOT NULL,
	output_bytes bigint NOT NULL,
	lost_bytes   bigint NOT NULL
);

-- Load finds the live commands by state; History and Load's recent list
-- walk creation order, per agent or overall. id breaks ties so that the
-- order is stable without a sort.
CREATE INDEX commands_live ON commands (created_at, id) WHERE state IN ('queued', 'running');
CREATE INDEX commands_agent_created ON commands (agent_id, created_at, id);
CREATE INDEX commands_created ON commands (created_at, id);

-- One row per chunk as the relay cut it. Keyed by position, so a resent
-- chunk collides with itself and is ignored.
CREATE TABLE output (
	command_id text COLLATE "C" NOT NULL,
	off        bigint NOT NULL,        -- offset of data's first byte
	data       bytea NOT NULL,
	PRIMARY KEY (command_id, off)
);

CREATE TABLE events (
	seq     bigint PRIMARY KEY,
	at      bigint NOT NULL,
	kind    text NOT NULL,
	subject text NOT NULL,
	data    bytea                      -- JSON, kept byte for byte
);

-- Access tokens (only the SHA-256 of each secret) and the audit trail.
CREATE TABLE tokens (
	name       text COLLATE "C" PRIMARY KEY,
	role       text NOT NULL,
	hash       bytea NOT NULL UNIQUE,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL,        -- 0: never
	revoked_at bigint NOT NULL         -- 0: not revoked
);

-- One row whose counter moves on every token change, so a running relay
-- notices a change made by `relay token …` or by another relay.
CREATE TABLE token_changes (
	id      integer PRIMARY KEY CHECK (id = 1),
	counter bigint NOT NULL
);
INSERT INTO token_changes (id, counter) VALUES (1, 0);

CREATE FUNCTION token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
	RETURN NULL;
END;
$$;
CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE OR DELETE ON tokens
	FOR EACH ROW EXECUTE FUNCTION token_changed();

CREATE TABLE audit (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      bigint NOT NULL,
	token   text NOT NULL,
	role    text NOT NULL,
	remote  text NOT NULL,
	action  text NOT NULL,
	subject text NOT NULL,
	result  text NOT NULL,
	detail  text NOT NULL
);
CREATE INDEX audit_at ON audit (at);
