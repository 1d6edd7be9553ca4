-- SSH public keys bound to tokens (relay --ssh-addr): a key logs in as
-- its token. Only the public half of a key is stored.
CREATE TABLE ssh_keys (
	fingerprint TEXT PRIMARY KEY,   -- SHA256:… as ssh-keygen -l prints it
	token       TEXT NOT NULL,
	public_key  TEXT NOT NULL,      -- authorized_keys form: type, base64, comment
	added_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX ssh_keys_token ON ssh_keys (token);

-- SSH front ends reload keys with the tokens.
CREATE TRIGGER ssh_keys_insert AFTER INSERT ON ssh_keys BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER ssh_keys_update AFTER UPDATE ON ssh_keys BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
CREATE TRIGGER ssh_keys_delete AFTER DELETE ON ssh_keys BEGIN
	UPDATE token_changes SET counter = counter + 1 WHERE id = 1;
END;
