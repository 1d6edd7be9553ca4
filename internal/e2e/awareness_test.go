package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"
)

// The awareness scenario suite (docs/awareness.md): real programs in real
// terminals of the real agent binary, watched through the real relay.
// Every scenario must never be waiting when it does not wait (strictly),
// and be waiting, with the right reason, soon after its prompt shows
// (generously bounded: CI machines are loaded). With
// SWITCHBOARD_AWARENESS_RUNS=N it runs N rounds and, with
// SWITCHBOARD_AWARENESS_DOC=FILE, writes the measured table into FILE
// (make awareness).

// detectBound is the latency the suite fails at: the target is 1 s, and
// the measured figures are in docs/awareness.md; this only catches a
// broken signal on a machine that is busy with other tests.
const detectBound = 5 * time.Second

// awarenessScenario is one program and what its attention must be.
type awarenessScenario struct {
	name   string
	shell  string         // run by the agent as sh -c
	prompt string         // output that starts the clock: waiting is due from then on, and false before
	reason string         // the reason waiting must carry
	answer string         // a quick reply once waiting; the command must then end by itself
	after  wire.Attention // a state due after the answer, if any
	runFor time.Duration  // how long a scenario without a prompt runs
	limit  string         // a known limit: not expected to be detected, only never to be a false alarm
}

func awarenessScenarios(scripts string) []awarenessScenario {
	return []awarenessScenario{
		{name: "bash read -p", shell: `bash -c 'echo starting; read -p "Your name? " x; echo "hello $x"'`,
			prompt: "Your name? ", reason: "Your name?", answer: "ada\r"},
		{name: "Python input()", shell: `python3 -c 'print("loading"); x = input("Pick a port: "); print("using", x)'`,
			prompt: "Pick a port: ", reason: "Pick a port:", answer: "8080\r"},
		{name: "[y/N] after 5 s of progress", shell: `bash -c 'for i in $(seq 50); do echo "step $i/50"; sleep 0.1; done; read -p "Apply 3 migrations? [y/N] " a; echo "answer=$a"'`,
			prompt: "Apply 3 migrations? [y/N] ", reason: "Apply 3 migrations? [y/N]", answer: "y\r"},
		{name: "sleep 20", shell: "sleep 20", runFor: 20 * time.Second},
		{name: "silent 30 s CPU loop", shell: `nice -n 19 bash -c 'end=$((SECONDS+30)); while [ $SECONDS -lt $end ]; do :; done'`, runFor: 30 * time.Second},
		{name: "OSC 9 notification", shell: `printf 'build done\r\n\033]9;Deploy build 42 to staging?\007'; sleep 0.3; read -r x; echo "deploying=$x"`,
			prompt: "Deploy build 42 to staging?", reason: "Deploy build 42 to staging?", answer: "yes\r"},
		{name: "hook-driven agent CLI", shell: "python3 " + filepath.Join(scripts, "fake_agent_cli.py"),
			prompt: "Allow edit of main.go?", reason: "Claude needs your permission to use Edit", answer: "1\r", after: wire.AttentionIdle},
		{name: "Node.js readline, agent notify", shell: "node " + filepath.Join(scripts, "node_prompt.js") + " notify",
			prompt: "Proceed with the refactor? ", reason: "Proceed with the refactor?", answer: "yes\r"},
		{name: "Node.js readline, no hook", shell: "node " + filepath.Join(scripts, "node_prompt.js") + " quietly",
			runFor: 8 * time.Second, limit: "epoll: not detectable from the process state (by design)"},
	}
}

// Scripts the scenarios run: an agent CLI that reports through its hooks
// and waits the way Node.js programs do (polling with a timeout, which
// the process state cannot tell from work), and a Node.js prompt.
const fakeAgentCLI = `import json, select, subprocess, sys, time

def hook(event, **fields):
    fields["hook_event_name"] = event
    subprocess.run(["agent", "notify"], input=json.dumps(fields).encode(), check=True, timeout=20)

hook("UserPromptSubmit", prompt="refactor main.go")
print("Thinking about the change...", flush=True)
time.sleep(1)
print("Allow edit of main.go? 1. Yes  2. No", flush=True)
hook("Notification", notification_type="permission_prompt", message="Claude needs your permission to use Edit")
while not select.select([sys.stdin], [], [], 0.2)[0]:
    pass
answer = sys.stdin.readline().strip()
hook("PreToolUse", tool_name="Edit")
print("Edited main.go (answer %s)" % answer, flush=True)
hook("Stop")
time.sleep(2)
`

const nodePrompt = `const { spawnSync } = require('child_process');
const rl = require('readline').createInterface({ input: process.stdin, output: process.stdout });
const mode = process.argv[2];
console.log('Analyzing repository...');
setTimeout(() => {
  rl.question('Proceed with the refactor? ', (a) => { console.log('answer=' + a); rl.close(); });
  if (mode === 'notify') {
    spawnSync('agent', ['notify', 'waiting', '--message', 'Proceed with the refactor?'], { stdio: 'ignore' });
  }
}, 500);
if (mode !== 'notify') setTimeout(() => process.exit(0), 8000);
`

// outOfOrder is how far a waiting event may precede, at the dashboard,
// the output that shows its question and still count as on time: a
// program that prints a question and calls its hook produces both at
// once, and they travel separately.
const outOfOrder = 500 * time.Millisecond

// observed is what a dashboard saw of one scenario's command.
type observed struct {
	out       strings.Builder
	promptAt  time.Time // when output holding the prompt arrived
	waitingAt time.Time // when the first waiting after it arrived
	reason    string
	early     time.Time // a waiting that came before the prompt's output, not yet judged
	earlyWhy  string
	falses    []string // waiting seen when nothing waited
	states    []wire.Attention
	final     bool
}

// scenarioWatch records, for each command, what one dashboard saw.
type scenarioWatch struct {
	mu      sync.Mutex
	byID    map[string]*observed
	prompts map[string]string // command id -> its prompt
}

func (w *scenarioWatch) record(ev any, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case client.Output:
		o := w.byID[ev.CommandID]
		if o == nil {
			return
		}
		o.out.Write(ev.Data)
		if p := w.prompts[ev.CommandID]; p != "" && o.promptAt.IsZero() && strings.Contains(o.out.String(), p) {
			o.promptAt = now
			if !o.early.IsZero() {
				o.judgeEarly(now)
			}
		}
	case client.CommandChanged:
		o := w.byID[ev.Command.ID]
		if o == nil {
			return
		}
		c := ev.Command
		if n := len(o.states); n == 0 || o.states[n-1] != c.Attention {
			o.states = append(o.states, c.Attention)
		}
		o.final = c.State.Final()
		if c.Attention != wire.AttentionWaiting || !o.waitingAt.IsZero() {
			return
		}
		if o.promptAt.IsZero() {
			if o.early.IsZero() {
				o.early, o.earlyWhy = now, c.AttentionReason
			}
			return
		}
		o.waitingAt, o.reason = now, c.AttentionReason
	}
}

// judgeEarly decides about a waiting that came before the prompt's output
// (which came at now, or never when now is zero): on time if it was at
// most outOfOrder early, a false alarm otherwise.
func (o *observed) judgeEarly(now time.Time) {
	if !now.IsZero() && now.Sub(o.early) <= outOfOrder {
		o.waitingAt, o.reason = now, o.earlyWhy
	} else {
		o.falses = append(o.falses, fmt.Sprintf("waiting (%q) before any prompt, output so far %q", o.earlyWhy, o.out.String()))
	}
	o.early = time.Time{}
}

// settle judges a waiting still held as early: the prompt never came.
func (w *scenarioWatch) settle(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if o := w.byID[id]; !o.early.IsZero() {
		o.judgeEarly(time.Time{})
	}
}

func (w *scenarioWatch) get(id string) observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.byID[id]
	return observed{promptAt: o.promptAt, waitingAt: o.waitingAt, reason: o.reason,
		falses: append([]string(nil), o.falses...), states: append([]wire.Attention(nil), o.states...), final: o.final}
}

// scenarioResult is one run of one scenario.
type scenarioResult struct {
	detected bool
	latency  time.Duration
	falses   int
}

func TestAwarenessScenarios(t *testing.T) {
	for _, p := range []string{"python3", "node", "bash"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("the awareness scenarios need %s: %v", p, err)
		}
	}
	runs := 1
	if n, err := strconv.Atoi(os.Getenv("SWITCHBOARD_AWARENESS_RUNS")); err == nil && n > 0 {
		runs = n
	}
	scripts := t.TempDir()
	for name, text := range map[string]string{"fake_agent_cli.py": fakeAgentCLI, "node_prompt.js": nodePrompt} {
		if err := os.WriteFile(filepath.Join(scripts, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, filepath.Join(t.TempDir(), "sb.db"))
	path := "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH") // agent notify, for the hooks
	proctest.Start(t, bin, "agent", []string{path}, "--relay", "ws://"+addr, "--name", "scenarios",
		"--max-concurrent", "16", "--state-dir", t.TempDir())
	proctest.Start(t, bin, "agent", []string{path}, "--relay", "ws://"+addr, "--name", "joiner", "--state-dir", t.TempDir())
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "scenarios")
	waitIdle(t, cl, "joiner")

	scenarios := awarenessScenarios(scripts)
	loadAtStart := loadAverage()
	results := make(map[string][]scenarioResult)
	var joins []time.Duration
	for round := range runs {
		for name, r := range runScenarios(t, cl, scenarios) {
			results[name] = append(results[name], r)
		}
		joins = append(joins, joinWhileWaiting(t, cl, addr))
		t.Logf("round %d of %d done", round+1, runs)
	}
	if doc := os.Getenv("SWITCHBOARD_AWARENESS_DOC"); doc != "" {
		writeAwarenessTable(t, doc, scenarios, results, joins, runs, loadAtStart)
	}
}

// runScenarios runs every scenario at once on the "scenarios" agent and
// checks each; it returns what it measured, by scenario name.
func runScenarios(t *testing.T, cl *client.Client, scenarios []awarenessScenario) map[string]scenarioResult {
	t.Helper()
	watch := &scenarioWatch{byID: map[string]*observed{}, prompts: map[string]string{}}
	ids := make([]string, len(scenarios))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev := <-cl.Events():
				watch.record(ev, time.Now())
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i, s := range scenarios {
		cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"scenarios"}},
			wire.CommandSpec{Shell: s.shell, Cols: 120, Rows: 30})
		if err != nil {
			t.Fatalf("%s: run: %v", s.name, err)
		}
		ids[i] = cmds[0].ID
		watch.mu.Lock()
		watch.byID[ids[i]], watch.prompts[ids[i]] = &observed{}, s.prompt
		watch.mu.Unlock()
		if err := cl.Subscribe(ids[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	results := make([]scenarioResult, len(scenarios))
	for i, s := range scenarios {
		wg.Go(func() { results[i] = checkScenario(t, cl, watch, s, ids[i]) })
	}
	wg.Wait()
	out := make(map[string]scenarioResult, len(scenarios))
	for i, s := range scenarios {
		out[s.name] = results[i]
	}
	return out
}

// checkScenario follows one scenario to its end. It may not call Fatal
// (it runs on a goroutine of its own), so it reports with Errorf.
func checkScenario(t *testing.T, cl *client.Client, watch *scenarioWatch, s awarenessScenario, id string) scenarioResult {
	var res scenarioResult
	until := func(what string, within time.Duration, cond func(observed) bool) bool {
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if cond(watch.get(id)) {
				return true
			}
		}
		t.Errorf("%s: no %s within %s; saw %+v", s.name, what, within, watch.get(id))
		return false
	}
	if s.prompt != "" {
		if until("prompt, then waiting", 60*time.Second, func(o observed) bool { return !o.waitingAt.IsZero() }) {
			o := watch.get(id)
			res.detected, res.latency = true, max(o.waitingAt.Sub(o.promptAt), 0)
			if res.latency > detectBound {
				t.Errorf("%s: waiting shown %s after the prompt (bound %s)", s.name, res.latency, detectBound)
			}
			if o.reason != s.reason {
				t.Errorf("%s: waiting for %q, want %q", s.name, o.reason, s.reason)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := cl.QuickReply(ctx, wire.QuickReply{CommandID: id, Text: s.answer}); err != nil {
				t.Errorf("%s: quick reply: %v", s.name, err)
			}
			cancel()
		}
	}
	if s.after != "" {
		until(string(s.after)+" after the answer", 30*time.Second, func(o observed) bool {
			i := indexState(o.states, wire.AttentionWaiting)
			return i >= 0 && indexState(o.states[i:], s.after) >= 0
		})
	}
	until("end", 60*time.Second+s.runFor, func(o observed) bool { return o.final })
	watch.settle(id)
	o := watch.get(id)
	for _, f := range o.falses {
		t.Errorf("%s: false alarm: %s", s.name, f)
	}
	res.falses = len(o.falses)
	if s.runFor >= 10*time.Second && indexState(o.states, wire.AttentionQuiet) < 0 {
		t.Errorf("%s: never quiet in %s of silence (states %v)", s.name, s.runFor, o.states)
	}
	return res
}

func indexState(states []wire.Attention, want wire.Attention) int {
	for i, s := range states {
		if s == want {
			return i
		}
	}
	return -1
}

// joinWhileWaiting starts a prompt on the "joiner" agent, and once it
// waits, checks what newcomers see: a dashboard's snapshot, tui agents and
// tui history, tui wait; then answers with tui reply. It returns how long
// the newcomer took to show the waiting agent, from its dial.
func joinWhileWaiting(t *testing.T, cl *client.Client, addr string) time.Duration {
	t.Helper()
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"joiner"}},
		wire.CommandSpec{Shell: `read -p "Ready to merge? [y/N] " a; echo "merge=$a"`})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	relaytest.Eventually(t, 30*time.Second, "joiner waiting", func() bool { return cl.State().Commands[id].Attention == wire.AttentionWaiting })

	start := time.Now()
	late, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	var joined time.Duration
	for _, a := range late.State().Agents {
		if a.Name == "joiner" && a.Attention == wire.AttentionWaiting && a.AttentionReason == "Ready to merge? [y/N]" && a.AttentionCommand == id {
			joined = time.Since(start)
		}
	}
	late.Close()
	if joined == 0 {
		t.Fatalf("a dashboard that joined while joiner waits sees %+v", late.State().Agents)
	}

	out, stderr, code := tui(t, addr, "agents", "--json")
	var agents []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &agents) != nil {
		t.Fatalf("tui agents --json: %d %s %s", code, out, stderr)
	}
	for _, a := range agents {
		if _, ok := a["attention"]; !ok {
			t.Errorf("tui agents --json: no attention in %v", a)
		}
		if _, ok := a["attention_reason"]; !ok {
			t.Errorf("tui agents --json: no attention_reason in %v", a)
		}
		if a["name"] == "joiner" && (a["attention"] != "waiting" || a["attention_reason"] != "Ready to merge? [y/N]") {
			t.Errorf("tui agents --json: joiner is %v", a)
		}
	}
	out, _, code = tui(t, addr, "history", "--agent", "joiner", "--limit", "1", "--json")
	var hist []wire.Command
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 1 ||
		hist[0].Attention != wire.AttentionWaiting || hist[0].AttentionReason != "Ready to merge? [y/N]" {
		t.Errorf("tui history --json: %d %s", code, out)
	}
	if out, stderr, code := tui(t, addr, "wait", "--agent", "joiner", "--for", "waiting", "--timeout", "30s"); code != 0 ||
		!strings.Contains(out, "joiner waiting: Ready to merge? [y/N]") {
		t.Errorf("tui wait --for waiting: %d %q %q", code, out, stderr)
	}
	if _, _, code := tui(t, addr, "wait", "--agent", "joiner", "--for", "idle", "--timeout", "300ms"); code != 124 {
		t.Errorf("tui wait --for idle while it waits: exit %d, want 124", code)
	}
	if out, stderr, code := tui(t, addr, "reply", "--agent", "joiner", "y"); code != 0 || !strings.Contains(out, id) {
		t.Errorf("tui reply: %d %q %q", code, out, stderr)
	}
	if out, stderr, code := tui(t, addr, "wait", "--agent", "joiner", "--for", "idle", "--timeout", "30s"); code != 0 {
		t.Errorf("tui wait --for idle after the reply: %d %q %q", code, out, stderr)
	}
	if _, stderr, code := tui(t, addr, "reply", "--agent", "joiner", "y"); code == 0 || !strings.Contains(stderr, "not_waiting") {
		t.Errorf("tui reply to an agent that waits for nothing: %d %q", code, stderr)
	}
	return joined
}
