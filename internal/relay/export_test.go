package relay

import "weak"

// OutputLog is a command's output log, for tests.
type OutputLog = outputLog

// OutputLogRef is a weak reference to a command's output log, which a
// test can watch be collected once nothing in the relay holds it.
func OutputLogRef(r *Relay, commandID string) weak.Pointer[outputLog] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.commands[commandID]; cs != nil {
		return weak.Make(cs.out)
	}
	return weak.Pointer[outputLog]{}
}
