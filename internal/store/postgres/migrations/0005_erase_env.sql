-- As internal/store/sqlite's 0007_erase_env.sql: env values are kept only
-- until a command starts; erase those kept from before, in commands and in
-- the command events. An event whose JSON holds an escaped NUL, which
-- jsonb refuses, is left as it is.
UPDATE commands SET env = (SELECT json_object_agg(key, '') FROM json_each_text(commands.env))
	WHERE env IS NOT NULL AND state <> 'queued';

UPDATE events SET data = convert_to((convert_from(data, 'UTF8')::jsonb #- '{command,env}')::text, 'UTF8')
	WHERE kind = 'command' AND position('\u0000' in convert_from(data, 'UTF8')) = 0
	AND convert_from(data, 'UTF8')::jsonb #> '{command,env}' IS NOT NULL;
