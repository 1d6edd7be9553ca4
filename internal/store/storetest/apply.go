package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func testAgentRoundTrip(t *testing.T, h Harness) {
	tests := map[string]wire.Agent{
		"every field": FullAgent("a-1"),
		"zero values": {AgentInfo: wire.AgentInfo{ID: "a-1"}, Status: wire.AgentOffline},
		"one label":   {AgentInfo: wire.AgentInfo{ID: "a-1", Labels: map[string]string{"k": "v"}}},
		"huge values": {AgentInfo: wire.AgentInfo{ID: "a-1", MaxConcurrent: 1 << 40}, Running: -1 << 40},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			s := h.open(t)
			Apply(t, s, store.Batch{Agents: []wire.Agent{want}})
			got := Load(t, s).Agents
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func testCommandRoundTrip(t *testing.T, h Harness) {
	shell := FullCommand("c-1")
	shell.Argv, shell.Shell, shell.ExitCode, shell.Signal = nil, "make test | tee log", nil, "SIGTERM"
	failed := FullCommand("c-1")
	failed.ExitCode = exitCode(-1)
	tests := map[string]wire.Command{
		"every field, exit code 0":      FullCommand("c-1"),
		"shell, signal, no exit code":   shell,
		"negative exit code":            failed,
		"queued with only the required": {ID: "c-1", AgentID: "a-1", State: wire.StateQueued},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			s := h.open(t)
			Apply(t, s, store.Batch{Commands: []wire.Command{want}})
			got := history(t, s, store.HistoryQuery{ID: want.ID})
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func testUpsertOverwritesEveryColumn(t *testing.T, h Harness) {
	s := h.open(t)
	agent, cmd := FullAgent("a-1"), FullCommand("c-1")
	Apply(t, s, store.Batch{Agents: []wire.Agent{agent}, Commands: []wire.Command{cmd}})

	agent = wire.Agent{AgentInfo: wire.AgentInfo{ID: "a-1", Name: "renamed"}, Status: wire.AgentOffline}
	cmd = wire.Command{ID: "c-1", AgentID: "a-2", CommandSpec: wire.CommandSpec{Shell: "x"},
		State: wire.StateRunning, CreatedAt: T0.Add(time.Hour)}
	Apply(t, s, store.Batch{Agents: []wire.Agent{agent}, Commands: []wire.Command{cmd}})

	if got := Load(t, s).Agents; len(got) != 1 || !reflect.DeepEqual(got[0], agent) {
		t.Fatalf("agent: got %+v, want %+v", got, agent)
	}
	if got := history(t, s, store.HistoryQuery{ID: "c-1"}); len(got) != 1 || !reflect.DeepEqual(got[0], cmd) {
		t.Fatalf("command: got %+v, want %+v", got, cmd)
	}
}

// testTextPostgreSQLCannotHold stores strings holding a NUL byte and
// invalid UTF-8, which dashboards and agents can send and PostgreSQL's text
// refuses. A batch that failed for them would be retried for ever and hold
// back every batch after it; each must be stored, as it is or with U+FFFD
// in place of what the database cannot hold.
func testTextPostgreSQLCannotHold(t *testing.T, h Harness) {
	const odd = "a\x00b\xff\xfec"
	s := h.open(t)
	agent := FullAgent("a-1")
	agent.Name, agent.Hostname, agent.Labels = odd, odd, map[string]string{odd: odd}
	cmd := FullCommand("c-1")
	cmd.Argv, cmd.Cwd, cmd.Env, cmd.Reason, cmd.Signal = []string{"x", odd}, odd, map[string]string{"K": odd}, odd, odd
	cmd.AttentionReason, cmd.Title = odd, odd
	audit := wire.AuditEntry{At: T0, Token: odd, Remote: odd, Action: "run", Subject: odd, Result: "ok", Detail: odd}
	Apply(t, s, store.Batch{Agents: []wire.Agent{agent}, Commands: []wire.Command{cmd},
		Events: []store.Event{{Seq: 1, At: T0, Kind: odd, Subject: odd}}, Audit: []wire.AuditEntry{audit}})

	gotAgent, gotCmd := Load(t, s).Agents, history(t, s, store.HistoryQuery{})
	if len(gotAgent) != 1 || !sameText(gotAgent[0], agent) {
		t.Errorf("agent:\ngot  %+v\nwant %+v", gotAgent, agent)
	}
	if len(gotCmd) != 1 || !sameText(gotCmd[0], cmd) {
		t.Errorf("command:\ngot  %+v\nwant %+v", gotCmd, cmd)
	}
	gotAudit, err := s.Audit(context.Background(), 10)
	if err != nil || len(gotAudit) != 1 || !sameText(gotAudit[0], audit) {
		t.Errorf("audit: %+v (%v), want %+v", gotAudit, err, audit)
	}
}

// sameText reports whether got and want are equal once each string in
// them has NUL bytes and invalid UTF-8 replaced by U+FFFD.
func sameText(got, want any) bool {
	norm := func(v any) string {
		b, _ := json.Marshal(v) // writes invalid UTF-8 as an escaped U+FFFD
		return strings.NewReplacer(`\u0000`, "\uFFFD", `\ufffd`, "\uFFFD").Replace(string(b))
	}
	return norm(got) == norm(want)
}

func testEventSeq(t *testing.T, h Harness) {
	s := h.open(t)
	events := []store.Event{
		{Seq: 1, At: T0, Kind: "agent", Subject: "a-1", Data: []byte(`{"x":1}`)},
		{Seq: 7, At: T0, Kind: "command", Subject: "c-1", Data: []byte(`{}`)},
	}
	Apply(t, s, store.Batch{Events: events})
	Apply(t, s, store.Batch{Events: events[:1]}) // a resent event is ignored
	if got := Load(t, s).EventSeq; got != 7 {
		t.Fatalf("EventSeq = %d, want 7", got)
	}
}

func testApplyEmptyBatch(t *testing.T, h Harness) {
	s := h.open(t)
	if err := s.Apply(context.Background(), &store.Batch{}); err != nil {
		t.Fatal(err)
	}
}

// BatchOfEverything touches every table, so a rollback that misses one
// shows. Its event is of kind "boom", for Harness.RefuseEvents.
func BatchOfEverything() store.Batch {
	return store.Batch{
		Agents:   []wire.Agent{FullAgent("a-1")},
		Commands: []wire.Command{LiveCommand("c-1", wire.StateRunning, 0)},
		Output:   []store.Chunk{{CommandID: "c-1", Offset: 0, Data: Pattern(0, 1<<20)}},
		Events:   []store.Event{{Seq: 1, At: T0, Kind: "boom", Subject: "c-1"}},
		Audit:    []wire.AuditEntry{{At: T0, Action: "run", Subject: "c-1", Result: "ok"}},
	}
}

// AssertNothingStored fails unless s holds nothing of BatchOfEverything.
func AssertNothingStored(t testing.TB, s Store) {
	t.Helper()
	st := Load(t, s)
	data, _, err := s.ReadOutput(context.Background(), "c-1", 0, 10)
	audit, aerr := s.Audit(context.Background(), 10)
	if len(st.Agents)+len(st.Commands) != 0 || st.EventSeq != 0 || len(data) != 0 || err != nil || len(audit) != 0 || aerr != nil {
		t.Fatalf("a failed batch left rows: %+v, output %q (%v), audit %v (%v)", st, data, err, audit, aerr)
	}
}

// AssertEverythingStored fails unless s holds all of BatchOfEverything.
func AssertEverythingStored(t testing.TB, s Store) {
	t.Helper()
	st := Load(t, s)
	audit, err := s.Audit(context.Background(), 10)
	if len(st.Agents) != 1 || len(st.Commands) != 1 || st.Commands[0].OutputBytes != 1<<20 || st.EventSeq != 1 ||
		len(audit) != 1 || err != nil {
		t.Fatalf("after the retry: %+v, audit %v (%v)", st, audit, err)
	}
}

func testFailedApplyRollsBack(t *testing.T, h Harness) {
	tests := []struct {
		name    string
		fail    func(t *testing.T, s Store) (ctx context.Context, undo func())
		wantErr string
	}{{
		name: "canceled context",
		fail: func(t *testing.T, s Store) (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, func() {}
		},
		wantErr: "context canceled",
	}, {
		name: "last rows refused",
		fail: func(t *testing.T, s Store) (context.Context, func()) {
			return context.Background(), h.RefuseEvents(t, s, "boom")
		},
		wantErr: "event 1",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.open(t)
			b := BatchOfEverything()
			ctx, undo := tt.fail(t, s)
			err := s.Apply(ctx, &b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			}
			t.Log(err)
			AssertNothingStored(t, s)
			undo()
			Apply(t, s, b)
			AssertEverythingStored(t, s)
		})
	}
}

func testCanceledApplyIsContextError(t *testing.T, h Harness) {
	s := h.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := BatchOfEverything()
	if err := s.Apply(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// testLargeBatch commits more rows than a statement has room for
// arguments, as the relay's persister does under load, and reads each
// back.
func testLargeBatch(t *testing.T, h Harness) {
	s := h.open(t)
	const commands, perCommand, size = 100, 100, 1000
	var b store.Batch
	for c := range commands {
		id := fmt.Sprintf("c-%03d", c)
		b.Commands = append(b.Commands, LiveCommand(id, wire.StateRunning, time.Duration(c)))
		for i := range perCommand {
			b.Output = append(b.Output, Chunks(id, [2]int64{int64(i * size), int64((i + 1) * size)})...)
		}
		b.Events = append(b.Events, store.Event{Seq: uint64(c + 1), At: T0, Kind: "command", Subject: id})
	}
	Apply(t, s, b)
	st := Load(t, s)
	if len(st.Commands) != commands || st.EventSeq != commands {
		t.Fatalf("loaded %d commands, event seq %d; want %d of each", len(st.Commands), st.EventSeq, commands)
	}
	for _, c := range st.Commands {
		data, start, err := s.ReadOutput(context.Background(), c.ID, 0, 1<<20)
		if err != nil || start != 0 || c.OutputBytes != perCommand*size || !bytes.Equal(data, Pattern(0, perCommand*size)) {
			t.Fatalf("%s: output end %d, read %d bytes at %d (%v); want %d", c.ID, c.OutputBytes, len(data), start, err, perCommand*size)
		}
	}
}
