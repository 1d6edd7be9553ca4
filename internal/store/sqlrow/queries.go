package sqlrow

import (
	"fmt"
	"strings"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// The queries Load and History run, the same in both SQL dialects but for
// their placeholders and the name of a blob's length function.

var liveStates = fmt.Sprintf("('%s', '%s')", wire.StateQueued, wire.StateRunning)

var (
	// SelectAgents reads every agent, by name.
	SelectAgents = "SELECT " + List("", AgentColumns) + " FROM agents ORDER BY name, id"

	// SelectRecent walks the commands' creation index backwards: the
	// store.RecentLimit final commands created last, newest first.
	SelectRecent = "SELECT " + List("", CommandColumns) + ` FROM commands
WHERE state NOT IN ` + liveStates + ` ORDER BY created_at DESC, id DESC LIMIT ` + fmt.Sprint(store.RecentLimit)

	// SelectEventSeq is the highest event sequence number stored.
	SelectEventSeq = "SELECT coalesce(max(seq), 0) FROM events"
)

// SelectLive reads the live commands, oldest first, with CommandColumns
// and then the end of each one's output, found from its last row alone, a
// seek on the output key. Rows of one command do not overlap (the relay
// trims what it already has), so no earlier row can end later. length is
// the dialect's function for a blob's length, which reads its header, not
// its bytes.
func SelectLive(length string) string {
	return "SELECT " + List("c", CommandColumns) + `,
	coalesce((SELECT o.off + ` + length + `(o.data) FROM output o
		WHERE o.command_id = c.id ORDER BY o.off DESC LIMIT 1), 0)
FROM commands c WHERE c.state IN ` + liveStates + ` ORDER BY c.created_at, c.id`
}

// History is the query for q and its arguments. It writes only the
// filters q sets: one statement whose filters its arguments could switch
// off would keep the planner from the index that suits each kind of query.
// param is the driver's placeholder for the i-th argument, from 1.
func History(q store.HistoryQuery, param func(i int) string) (string, []any) {
	var (
		where []string
		args  []any
	)
	if q.AgentID != "" {
		args = append(args, q.AgentID)
		where = append(where, "agent_id = "+param(len(args)))
	}
	if q.ID != "" {
		args = append(args, q.ID)
		where = append(where, "id = "+param(len(args)))
	}
	if q.AgentIDs != nil {
		in := make([]string, len(q.AgentIDs))
		for i, id := range q.AgentIDs {
			args = append(args, id)
			in[i] = param(len(args))
		}
		if len(in) == 0 {
			in = []string{"NULL"} // no agent: nothing matches
		}
		where = append(where, "agent_id IN ("+strings.Join(in, ", ")+")")
	}
	query := "SELECT " + List("", CommandColumns) + " FROM commands"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, store.PageSize(q.Limit))
	return query + " ORDER BY created_at DESC, id DESC LIMIT " + param(len(args)), args
}
