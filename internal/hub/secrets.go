package hub

import (
	"maps"
	"slices"

	"switchboard/internal/wire"
)

// A command's env values are for its agent alone: dashboards see only
// their names (env_keys), in events, snapshots, run answers and history,
// and the relay keeps the values only until the agent starts the command
// (or it ends without starting): a relay restarted meanwhile reloads a
// queued command whole, and dispatches it as it was asked for. After
// that, memory and the store keep the names, each with an empty value.

// forDashboards is a command as dashboards see it: env names, no values.
func forDashboards(c wire.Command) wire.Command {
	if len(c.Env) == 0 {
		return c
	}
	c.EnvKeys, c.Env = slices.Sorted(maps.Keys(c.Env)), nil
	return c
}

// eraseEnv forgets a command's env values, keeping their names. It
// replaces the map: earlier copies of the command (a queued row not yet
// stored, a start already sent) keep theirs.
func eraseEnv(c *wire.Command) {
	if len(c.Env) == 0 {
		return
	}
	names := make(wire.Strings, len(c.Env))
	for k := range c.Env {
		names[k] = ""
	}
	c.Env = names
}
