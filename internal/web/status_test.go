package web_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"switchboard/internal/relay"
	"switchboard/internal/status"
	"switchboard/internal/wire"
)

// TestPageSpeaksTheStatusVocabulary: the page shows every agent status
// and command state with the symbol, word and tone of internal/status,
// which the TUI and the CLI use, and each tone is a colour of its own.
func TestPageSpeaksTheStatusVocabulary(t *testing.T) {
	e := newEnv(t, relay.Config{})
	p := e.openPage("a")
	code := func(n int) *int { return &n }
	type look struct{ Sym, Word, Tone string }
	asLook := func(l status.Look) look { return look{l.Symbol, l.Word, string(l.Tone)} }
	commands := []wire.Command{{State: wire.StateQueued}, {State: wire.StateRunning},
		{State: wire.StateRunning, Attention: wire.AttentionWaiting}, {State: wire.StateRunning, Attention: wire.AttentionQuiet},
		{State: wire.StateRunning, Attention: wire.AttentionIdle}, {State: wire.StateRunning, Attention: wire.AttentionWorking},
		{State: wire.StateExited, ExitCode: code(0)}, {State: wire.StateExited, ExitCode: code(3)},
		{State: wire.StateExited, Signal: "SIGKILL"}, {State: wire.StateCanceled}, {State: wire.StateTimedOut},
		{State: wire.StateLost}, {State: wire.StateRejected}}
	for _, c := range commands {
		for _, waiting := range []bool{false, true} {
			js, _ := json.Marshal(c)
			got := eval[look](p, fmt.Sprintf(`(() => { const l = window.switchboard.looks.commandLook(%s, %v);
  return {Sym: l.sym, Word: l.word, Tone: l.tone}; })()`, js, waiting))
			if want := asLook(status.Command(c, waiting)); got != want {
				t.Errorf("command %s (waiting %v): page shows %+v, the vocabulary says %+v", c.State, waiting, got, want)
			}
		}
	}
	for _, a := range []wire.Agent{{Status: wire.AgentIdle}, {Status: wire.AgentBusy, Running: 2}, {Status: wire.AgentOffline},
		{Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionWaiting}, {Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionQuiet},
		{Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionIdle}, {Status: wire.AgentBusy, Running: 1, Attention: wire.AttentionWorking}} {
		for _, waiting := range []bool{false, true} {
			js, _ := json.Marshal(a)
			got := eval[look](p, fmt.Sprintf(`(() => { const l = window.switchboard.looks.agentLook(%s, %v);
  return {Sym: l.sym, Word: l.word, Tone: l.tone}; })()`, js, waiting))
			if want := asLook(status.Agent(a, waiting)); got != want {
				t.Errorf("agent %s (waiting %v): page shows %+v, the vocabulary says %+v", a.Status, waiting, got, want)
			}
		}
	}
	colours := eval[map[string]string](p, `(() => {
  const out = {};
  for (const tone of ['green', 'blue', 'yellow', 'red', 'grey']) {
    const e = document.createElement('span');
    e.className = 'tone-' + tone;
    document.body.append(e);
    out[tone] = getComputedStyle(e).color;
    e.remove();
  }
  return out;
})()`)
	seen := map[string]string{}
	for tone, c := range colours {
		if other, ok := seen[c]; ok {
			t.Errorf("tones %s and %s are both %s", tone, other, c)
		}
		seen[c] = tone
	}
}
