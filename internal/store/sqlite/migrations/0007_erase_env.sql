-- env values are for a command's agent alone, and only until it starts
-- (internal/relay/secrets.go). Erase those kept from before: every command
-- that is not queued keeps its env names with empty values, and the stored
-- command events, which carried the commands whole, lose their env.
UPDATE commands SET env = (SELECT json_group_object(key, '') FROM json_each(commands.env))
	WHERE env IS NOT NULL AND state <> 'queued';

UPDATE events SET data = CAST(json_remove(CAST(data AS TEXT), '$.command.env') AS BLOB)
	WHERE kind = 'command' AND json_valid(CAST(data AS TEXT))
	AND json_extract(CAST(data AS TEXT), '$.command.env') IS NOT NULL;
