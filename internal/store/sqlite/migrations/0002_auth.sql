-- Access tokens (only the SHA-256 of each secret) and the audit trail.

CREATE TABLE tokens (
	name       TEXT PRIMARY KEY,
	role       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,   -- 0: never
	revoked_at INTEGER NOT NULL    -- 0: not revoked
) STRICT;

-- One row whose counter moves on every token change, so a running relay
-- notices a change made by `relay token …` in another process.
CREATE TABLE token_changes (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	counter INTEGER NOT NULL
) STRICT;
INSERT INTO token_changes (id, counter) VALUES (1, 0);

CREATE TRIGGER tokens_insert AFTER INSERT ON tokens BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER tokens_update AFTER UPDATE ON tokens BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER tokens_delete AFTER DELETE ON tokens BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	token   TEXT NOT NULL,
	role    TEXT NOT NULL,
	remote  TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL,
	result  TEXT NOT NULL,
	detail  TEXT NOT NULL
) STRICT;
CREATE INDEX audit_at ON audit (at);
