package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/hub"
	"switchboard/internal/relay"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// TestPageDropsRemovedCommand: when retention removes a finished command
// (command.removed), the page drops it from its state and its list.
func TestPageDropsRemovedCommand(t *testing.T) {
	e := newEnv(t, relay.Config{Retention: hub.Retention{Retain: 2 * time.Second, Every: 250 * time.Millisecond}})
	e.startAgent("build-1", nil)
	p := e.openPage("a")
	p.selectAgent("build-1")
	cl, err := client.Dial(context.Background(), client.Config{Relay: e.relay.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"build-1"}}, wire.CommandSpec{Shell: "echo soon-gone"})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	p.waitFor("the command to exit", fmt.Sprintf(`window.switchboard.commands.get(%q)?.state === 'exited'`, id))
	item := fmt.Sprintf(`document.querySelector('#commands li.cmd[data-id=%q]')`, id)
	p.waitFor("the command in the list", item+` !== null`)
	p.waitForWithin(15*time.Second, "the command removed from the page's state", fmt.Sprintf(`!window.switchboard.commands.has(%q)`, id))
	p.waitFor("the command gone from the list", item+` === null`)
	relaytest.Eventually(t, 5*time.Second, "the client told too", func() bool {
		_, ok := cl.State().Commands[id]
		return !ok
	})
}
