package relay

import (
	"context"
	"errors"
	"fmt"

	"switchboard/internal/hub"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// maxSearchText bounds the text of one search.result (lines and their
// context): a result past it is cut short, with next set, so that the
// largest query (1000 hits of 4 KiB lines with 20 context lines each)
// still makes a message a dashboard reads.
const maxSearchText = 512 << 10

// search answers a dashboard's search on its reader, as history is,
// bounded in time (readTimeout) and size (maxSearchText).
func (r *Relay) search(d *dashboardSession, m *wire.SearchQuery) {
	bad := func(format string, args ...any) {
		d.conn.SendError(wire.CodeInvalidArgument, fmt.Sprintf(format, args...), m.RequestID, "")
	}
	switch {
	case m.Limit < 0 || m.Limit > store.PageMax:
		bad("limit %d is out of range 0-%d", m.Limit, store.PageMax)
		return
	case m.Context < 0 || m.Context > store.MaxSearchContext:
		bad("context %d is out of range 0-%d", m.Context, store.MaxSearchContext)
		return
	case m.Before < 0:
		bad("before %d is negative", m.Before)
		return
	}
	terms, err := store.ParseSearch(m.Query)
	if err != nil {
		bad("%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, readTimeout)
	defer cancel()
	q := store.SearchQuery{Terms: terms, Since: m.Since, Before: m.Before, Limit: m.Limit, Context: m.Context}
	hits, err := r.hub.Search(ctx, d.who.actor(), q, m.Agent, m.Labels)
	switch {
	case errors.Is(err, hub.ErrNoAgent):
		d.conn.SendError(wire.CodeNotFound, fmt.Sprintf("no agent %q", m.Agent), m.RequestID, "")
		return
	case err != nil:
		d.conn.SendError(wire.CodeStorage, fmt.Sprintf("search: %v", err), m.RequestID, "")
		return
	}
	res := &wire.SearchResult{RequestID: m.RequestID, Hits: hits}
	full := len(hits) == store.PageSize(m.Limit)
	size := 0
	for i, h := range hits {
		size += len(h.Text) + len(h.Command)
		for _, l := range append(h.Before, h.After...) {
			size += len(l)
		}
		if size > maxSearchText && i > 0 {
			res.Hits, full = hits[:i], true
			break
		}
	}
	if full && len(res.Hits) > 0 {
		res.Next = res.Hits[len(res.Hits)-1].Cursor
	}
	d.conn.SendMessage(res)
}
