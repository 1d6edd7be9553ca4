package agent

import (
	"errors"
	"fmt"
	"syscall"

	"switchboard/internal/wire"
)

// errShuttingDown refuses to start a session once the agent shuts down.
var errShuttingDown = errors.New("the agent is shutting down")

// restartReason is the reason a restarted session ends with.
const restartReason = "restarted from a dashboard"

// restartSession answers the relay's session.restart: it stops the
// session program if it runs and starts it again as a new session, on a
// goroutine of its own that ends once the new session started, or the
// agent shut down. A restart asked for while one is under way is the same
// restart.
func (a *Agent) restartSession() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cfg.Session) == 0 {
		if a.conn != nil {
			a.conn.reply(&wire.Error{Code: wire.CodeInvalidArgument,
				Message: fmt.Sprintf("agent %s runs no session program (start one with agent -- PROGRAM)", a.cfg.Name)})
			a.notifyLocked()
		}
		return
	}
	if a.restarting || a.shutting {
		return
	}
	a.restarting = true
	var old *process
	for _, c := range a.order {
		if c.spec.Session && c.proc != nil {
			old = c.proc
		}
	}
	go a.restart(old)
}

// restart stops old, if any, waits for it to end, and starts the session.
func (a *Agent) restart(old *process) {
	defer func() {
		a.mu.Lock()
		a.restarting = false
		a.mu.Unlock()
	}()
	if old != nil {
		a.log.Info("restarting the session: stopping it first", "pid", old.pid)
		old.stop(wire.StateCanceled, restartReason, syscall.SIGTERM)
		select {
		case <-old.done:
		case <-a.stopping.Done():
			return
		}
	}
	if err := a.startSession(); err != nil && !errors.Is(err, errShuttingDown) {
		a.log.Error("could not restart the session", "err", err)
	}
}
