-- Who may do what: tokens scoped to labelled agents, browser sessions and
-- one-time sign-in codes (only the SHA-256 of each secret), and the agent
-- each agent token is bound to.

ALTER TABLE tokens ADD COLUMN scope TEXT;  -- JSON object of labels; NULL: every agent

CREATE TABLE sessions (
	hash       BLOB PRIMARY KEY,
	token      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_token ON sessions (token);

CREATE TABLE signin_codes (
	hash       BLOB PRIMARY KEY,
	token      TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

-- An agent name and an agent id each belong to at most one token.
CREATE TABLE agent_bindings (
	agent_name TEXT PRIMARY KEY,
	agent_id   TEXT NOT NULL,          -- '' until the agent first connects
	token      TEXT NOT NULL,
	explicit   INTEGER NOT NULL,       -- 1: made with the token (--agent)
	bound_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX agent_bindings_id ON agent_bindings (agent_id) WHERE agent_id != '';
CREATE INDEX agent_bindings_token ON agent_bindings (token);

-- Relays reload bindings with the tokens.
CREATE TRIGGER agent_bindings_insert AFTER INSERT ON agent_bindings BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER agent_bindings_update AFTER UPDATE ON agent_bindings BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER agent_bindings_delete AFTER DELETE ON agent_bindings BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
