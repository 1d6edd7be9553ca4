package relay

import "switchboard/internal/hub"

// OutputLogAlive reports, for tests, whether a command's output log is
// still reachable (nil if the relay's memory holds no such command).
func OutputLogAlive(r *Relay, commandID string) func() bool {
	return r.hub.(*hub.Local).OutputLogAlive(commandID)
}
