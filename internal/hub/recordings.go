package hub

import (
	"context"
	"errors"
	"fmt"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// finalStoredLocked notes that a command's final state is stored.
func (h *Local) finalStoredLocked(id string) {
	if cs := h.commands[id]; cs != nil {
		select {
		case <-cs.finalStored:
		default:
			close(cs.finalStored)
		}
	}
}

// Command finds a command in memory or in the store. A command that has
// just ended is returned once its end is stored, so that what the store
// holds of it (output, timing) is all there is.
func (h *Local) Command(ctx context.Context, id string) (wire.Command, error) {
	h.mu.Lock()
	cs := h.commands[id]
	var c wire.Command
	if cs != nil {
		c = cs.snapshot()
	}
	h.mu.Unlock()
	if cs != nil {
		if c.State.Final() {
			select {
			case <-cs.finalStored:
			case <-ctx.Done():
				return c, fmt.Errorf("command %s has ended and is not stored yet: %w", id, ctx.Err())
			}
		}
		return c, nil
	}
	cmds, err := h.store.History(ctx, store.HistoryQuery{ID: id, Limit: 1})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	if len(cmds) == 0 {
		return c, store.ErrNotFound
	}
	return cmds[0], nil
}
