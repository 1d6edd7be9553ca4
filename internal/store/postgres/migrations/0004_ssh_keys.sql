-- SSH public keys bound to tokens (relay --ssh-addr): a key logs in as
-- its token. Only the public half of a key is stored. As
-- internal/store/sqlite's 0006_ssh_keys.sql.
CREATE TABLE ssh_keys (
	fingerprint text COLLATE "C" PRIMARY KEY,  -- SHA256:… as ssh-keygen -l prints it
	token       text COLLATE "C" NOT NULL,
	public_key  text NOT NULL,                 -- authorized_keys form: type, base64, comment
	added_at    bigint NOT NULL
);
CREATE INDEX ssh_keys_token ON ssh_keys (token);

-- SSH front ends reload keys with the tokens.
CREATE TRIGGER ssh_keys_changed AFTER INSERT OR UPDATE OR DELETE ON ssh_keys
	FOR EACH ROW EXECUTE FUNCTION token_changed();
