package hub

import (
	"fmt"
	"testing"

	"switchboard/internal/wire"
)

// TestAssembleSnapshot splits a large state into parts under the size
// target that decode to exactly the state, in order, partial but the last.
func TestAssembleSnapshot(t *testing.T) {
	for _, n := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {3, 2}, {5000, 300}} {
		var agents, cmds [][]byte
		for i := range n[0] {
			agents = append(agents, mustJSON(wire.Agent{AgentInfo: wire.AgentInfo{ID: fmt.Sprintf("a-%05d", i), Name: "agent with a long name"}, Status: wire.AgentIdle}))
		}
		for i := range n[1] {
			cmds = append(cmds, mustJSON(wire.Command{ID: fmt.Sprintf("c-%05d", i), State: wire.StateExited}))
		}
		parts := assembleSnapshot(42, agents, cmds)
		var gotAgents, gotCmds int
		for i, p := range parts {
			if len(p) > snapshotPart+4096 {
				t.Errorf("%v: part %d is %d bytes", n, i, len(p))
			}
			m, err := wire.Decode(p)
			if err != nil {
				t.Fatalf("%v: part %d: %v\n%s", n, i, err, p[:min(len(p), 200)])
			}
			s := m.(*wire.Snapshot)
			if s.Seq != 42 || s.Partial != (i < len(parts)-1) {
				t.Errorf("%v: part %d seq %d partial %v", n, i, s.Seq, s.Partial)
			}
			for _, a := range s.Agents {
				if a.ID != fmt.Sprintf("a-%05d", gotAgents) {
					t.Fatalf("%v: agent %s out of order", n, a.ID)
				}
				gotAgents++
			}
			for _, c := range s.Commands {
				if c.ID != fmt.Sprintf("c-%05d", gotCmds) {
					t.Fatalf("%v: command %s out of order", n, c.ID)
				}
				gotCmds++
			}
		}
		if gotAgents != n[0] || gotCmds != n[1] {
			t.Errorf("%v: decoded %d agents, %d commands", n, gotAgents, gotCmds)
		}
		if n[0] == 5000 && len(parts) < 2 {
			t.Errorf("5000 agents in %d part(s)", len(parts))
		}
	}
}
