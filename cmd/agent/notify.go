package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"switchboard/internal/agent"
	"switchboard/internal/flagenv"
	"switchboard/internal/wire"
)

const notifySummary = `
Usage: agent notify [waiting|working|idle] [--message TEXT] [HOOK_JSON]

Tells the agent running this command (found through the environment the
agent gives every command: ` + agent.EnvNotifySocket + ` and the command's id and
key) whether the program needs a person, so that dashboards show it at
once. Agent CLIs call it from their hooks:

  waiting   it asks something (a permission prompt, a question)
  working   it is busy (a prompt was submitted, a tool runs)
  idle      it finished its turn and waits for a new task

Without a state, the state comes from hook JSON: Claude Code's hook input
on standard input (Notification → waiting with its message; Stop →
idle; UserPromptSubmit, PreToolUse, PostToolUse → working), or a JSON
argument such as Codex's notify sends. Events that say nothing about
attention are ignored. Nothing is printed on standard output; outside a
Switchboard command it does nothing and exits 0, so hooks can stay in
place when the CLI runs on its own.`

// Bounds of reading a hook's JSON from standard input.
const (
	maxHookInput = 1 << 20
	hookWait     = 5 * time.Second // no state given: the JSON is needed
	hookPeek     = time.Second     // state given: the JSON only adds a message
)

// notifyCommand is `agent notify`; it returns the exit code.
func notifyCommand(args []string, stdin *os.File, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent notify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	message := fs.String("message", "", "What the program asks or says, shown beside its state (default: the hook's message).")
	fs.Usage = func() {
		fmt.Fprintln(stderr, strings.TrimSpace(notifySummary))
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	positional, err := flagenv.ParseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	st, hookJSON, err := notifyArgs(positional)
	if err != nil {
		fmt.Fprintf(stderr, "agent notify: %v\n", err)
		return 2
	}
	if hookJSON == nil {
		wait := hookPeek
		if st == "" {
			wait = hookWait
		}
		hookJSON = readHookInput(stdin, wait)
	}
	msg := *message
	if len(hookJSON) > 0 {
		hookState, hookMsg, ok, err := agent.HookState(hookJSON)
		switch {
		case err != nil && st == "":
			fmt.Fprintf(stderr, "agent notify: %v\n", err)
			return 2
		case ok && st == "":
			st = hookState
		}
		if msg == "" && ok {
			msg = hookMsg
		}
	}
	if st == "" {
		if len(hookJSON) > 0 {
			return 0 // a hook event that says nothing about attention
		}
		fmt.Fprintln(stderr, "agent notify: give a state (waiting, working or idle) or hook JSON on standard input")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	switch err := agent.Notify(ctx, os.Getenv, st, msg); {
	case errors.Is(err, agent.ErrNotInCommand):
		fmt.Fprintln(stderr, "agent notify:", err, "- nothing to do")
	case err != nil:
		fmt.Fprintln(stderr, "agent notify:", err)
		return 1
	}
	return 0
}

// notifyArgs reads the positional arguments: a state, hook JSON, or both.
func notifyArgs(args []string) (wire.Attention, []byte, error) {
	var st wire.Attention
	var hookJSON []byte
	for _, a := range args {
		switch s := wire.Attention(a); {
		case s == wire.AttentionWaiting || s == wire.AttentionWorking || s == wire.AttentionIdle:
			st = s
		case strings.HasPrefix(strings.TrimSpace(a), "{"):
			hookJSON = []byte(a)
		default:
			return "", nil, fmt.Errorf("%q is neither waiting, working, idle nor hook JSON", a)
		}
	}
	return st, hookJSON, nil
}

// readHookInput reads standard input when it is a pipe or a file (a hook
// runner's), giving up after wait: an input nobody closes must not hang
// the hook.
func readHookInput(stdin *os.File, wait time.Duration) []byte {
	if fi, err := stdin.Stat(); err != nil || fi.Mode()&os.ModeCharDevice != 0 {
		return nil // a terminal, or nothing
	}
	got := make(chan []byte, 1)
	go func() { // ends with the process if stdin never does
		b, _ := io.ReadAll(io.LimitReader(stdin, maxHookInput))
		got <- b
	}()
	select {
	case b := <-got:
		return b
	case <-time.After(wait):
		return nil
	}
}
