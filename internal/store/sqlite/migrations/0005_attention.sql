-- A running command's attention (waiting, working, quiet, idle), why,
-- since when, and its terminal's window title: a restarted relay shows
-- them at once, before agents report again.
ALTER TABLE commands ADD COLUMN attention TEXT NOT NULL DEFAULT '';
ALTER TABLE commands ADD COLUMN attention_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE commands ADD COLUMN attention_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN title TEXT NOT NULL DEFAULT '';
