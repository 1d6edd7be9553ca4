package hub

import "weak"

// OutputLogAlive returns a function that reports whether the output log
// of a command in memory now is still reachable, for tests that hold the
// hub to letting go of ended commands' output; nil if memory holds no
// such command.
func (h *Local) OutputLogAlive(commandID string) func() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.commands[commandID]
	if cs == nil {
		return nil
	}
	ref := weak.Make(cs.out)
	return func() bool { return ref.Value() != nil }
}
