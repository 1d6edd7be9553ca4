-- Agents started with --no-input: dashboards may watch but never type.
ALTER TABLE agents ADD COLUMN no_input INTEGER NOT NULL DEFAULT 0;
