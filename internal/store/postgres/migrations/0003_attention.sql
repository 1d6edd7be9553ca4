-- A running command's attention (waiting, working, quiet, idle), why,
-- since when, and its terminal's window title: a restarted relay shows
-- them at once, before agents report again.
ALTER TABLE commands
	ADD COLUMN attention        text NOT NULL DEFAULT '',
	ADD COLUMN attention_reason text NOT NULL DEFAULT '',
	ADD COLUMN attention_since  bigint NOT NULL DEFAULT 0,
	ADD COLUMN title            text NOT NULL DEFAULT '';
