package tui

import (
	"fmt"
	"strings"

	"switchboard/internal/wire"
)

// confirmPrompt is a question before something that cannot be undone
// (stopping a command or a session): y does it, any other key keeps
// things as they are. It shows in place of the command bar.
type confirmPrompt struct {
	question string
	yes      func()
	kept     string // the notice when the answer is no
}

// askCancel asks before cancelling the focused pane's command.
func (m *Model) askCancel() {
	p := m.panes.focused()
	if p == nil {
		m.setFlash("open a pane first", true)
		return
	}
	c := m.cmds[p.id]
	if c.State.Final() {
		m.setFlash(fmt.Sprintf("nothing to cancel: the command is %s", c.State), false)
		return
	}
	q := fmt.Sprintf("Cancel %s on %s?", truncate(c.CommandSpec.Line(), 40), c.AgentName)
	if c.Session {
		q = fmt.Sprintf("Stop the session of %s (%s)? It runs again only when restarted (%s).", c.AgentName,
			truncate(c.CommandSpec.Line(), 30), m.c.keys.RestartSession.Help().Key)
	}
	id := c.ID
	m.confirm = &confirmPrompt{question: q, kept: "not cancelled", yes: func() {
		m.out.cancel(id)
		m.setFlash("cancelling "+id, false)
	}}
}

// askRestart asks before restarting the session of the agent in focus:
// the focused pane's, or the one under the list's cursor.
func (m *Model) askRestart() {
	a, ok := m.focusedAgent()
	if !ok {
		m.setFlash("no agent in focus", true)
		return
	}
	if len(a.Session) == 0 {
		m.setFlash(a.Name+" runs no session program (start the agent with -- PROGRAM for one)", true)
		return
	}
	program := truncate(strings.Join(a.Session, " "), 30)
	q := fmt.Sprintf("Start the session of %s (%s) again?", a.Name, program)
	if m.runningSession(a.ID) != "" {
		q = fmt.Sprintf("Restart the session of %s (%s)? The running one is stopped first.", a.Name, program)
	}
	id, name := a.ID, a.Name
	m.confirm = &confirmPrompt{question: q, kept: "session left as it is", yes: func() {
		m.out.restartSession(id)
		m.reopen[id] = true
		m.setFlash("restarting the session of "+name+"…", false)
	}}
}

// answerConfirm takes the key pressed at a prompt.
func (m *Model) answerConfirm(key string) {
	c := m.confirm
	m.confirm = nil
	if key == "y" || key == "Y" {
		c.yes()
		return
	}
	m.setFlash(c.kept, false)
}

// focusedAgent is the agent of the focused pane when the panes have the
// keyboard, else the one under the list's cursor.
func (m *Model) focusedAgent() (wire.Agent, bool) {
	if p := m.panes.focused(); m.focus == focusPanes && p != nil {
		a, ok := m.agents[m.cmds[p.id].AgentID]
		return a, ok
	}
	return m.list.current()
}

// runningSession is the id of the agent's running session, or "".
func (m *Model) runningSession(agentID string) string {
	for id, c := range m.cmds {
		if c.Session && c.AgentID == agentID && c.State == wire.StateRunning {
			return id
		}
	}
	return ""
}

// confirmLine is the prompt, in place of the command bar.
func (m *Model) confirmLine() string {
	text := " ⚠ " + m.confirm.question + "  y: yes · any other key: no "
	return m.c.st.warnBar.Render(fit(text, m.w))
}
