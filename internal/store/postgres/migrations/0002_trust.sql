-- Who may do what: tokens scoped to labelled agents, browser sessions and
-- one-time sign-in codes (only the SHA-256 of each secret), and the agent
-- each agent token is bound to. As internal/store/sqlite's 0004_trust.sql.

ALTER TABLE tokens ADD COLUMN scope json;  -- labels; NULL: every agent

CREATE TABLE sessions (
	hash       bytea PRIMARY KEY,
	token      text COLLATE "C" NOT NULL,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL
);
CREATE INDEX sessions_token ON sessions (token);

CREATE TABLE signin_codes (
	hash       bytea PRIMARY KEY,
	token      text COLLATE "C" NOT NULL,
	expires_at bigint NOT NULL
);

-- An agent name and an agent id each belong to at most one token.
CREATE TABLE agent_bindings (
	agent_name text COLLATE "C" PRIMARY KEY,
	agent_id   text COLLATE "C" NOT NULL,  -- '' until the agent first connects
	token      text COLLATE "C" NOT NULL,
	explicit   boolean NOT NULL,           -- made with the token (--agent)
	bound_at   bigint NOT NULL
);
CREATE UNIQUE INDEX agent_bindings_id ON agent_bindings (agent_id) WHERE agent_id <> '';
CREATE INDEX agent_bindings_token ON agent_bindings (token);

-- Relays reload bindings with the tokens.
CREATE TRIGGER agent_bindings_changed AFTER INSERT OR UPDATE OR DELETE ON agent_bindings
	FOR EACH ROW EXECUTE FUNCTION token_changed();
