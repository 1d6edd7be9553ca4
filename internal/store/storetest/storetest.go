// Package storetest is the behaviour the relay relies on from its store, as
// one suite of tests and benchmarks that every store.Store implementation
// runs against a real database of its kind (internal/store/sqlite,
// internal/store/postgres), so that the two cannot drift apart.
//
// An implementation's tests call Run with a Harness and RunMigrations with
// its migration runner; its benchmarks call Bench. To add a test, write a func(*testing.T, Harness) in this package
// and list it in tests; tests of one implementation's own machinery (its
// files, its server, its migrations' SQL) stay in that implementation.
package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// Store is what the suite tests: the relay's store with its tokens, audit
// trail, browser sessions, agent bindings and SSH keys.
type Store interface {
	store.Store
	store.Auth
	store.Sessions
	store.AgentBindings
	store.SSHKeys
	store.Pruner
	store.Search
}

// Harness is how the suite gets databases of one kind.
type Harness struct {
	// New makes an empty database for one test and returns a function
	// that opens a Store on it, closed when the test ends. Called again
	// after that store is closed (or beside it), open opens the same
	// database, as a restarted relay, or a second one, does.
	New func(t testing.TB) (open func(t testing.TB) Store)
	// RefuseEvents makes the database refuse to store an event of the
	// given kind, as a failing disk or a broken constraint would, until
	// undo is called: a batch holding one fails late, after its agents,
	// commands and output were written.
	RefuseEvents func(t testing.TB, s Store, kind string) (undo func())
}

// open is a store on a new, empty database.
func (h Harness) open(t testing.TB) Store {
	t.Helper()
	return h.New(t)(t)
}

// tests is the suite, run in this order.
var tests = []struct {
	name string
	run  func(*testing.T, Harness)
}{
	{"AgentRoundTrip", testAgentRoundTrip},
	{"CommandRoundTrip", testCommandRoundTrip},
	{"UpsertOverwritesEveryColumn", testUpsertOverwritesEveryColumn},
	{"TextPostgreSQLCannotHold", testTextPostgreSQLCannotHold},
	{"EventSeq", testEventSeq},
	{"ApplyEmptyBatch", testApplyEmptyBatch},
	{"FailedApplyRollsBack", testFailedApplyRollsBack},
	{"CanceledApplyIsContextError", testCanceledApplyIsContextError},
	{"LargeBatch", testLargeBatch},
	{"ReadOutput", testReadOutput},
	{"ReadOutputRejectsNoLimit", testReadOutputRejectsNoLimit},
	{"ReadOutputEveryByteValue", testReadOutputEveryByteValue},
	{"ReadOutputLongHistory", testReadOutputLongHistory},
	{"ReadOutputCanceledMidway", testReadOutputCanceledMidway},
	{"ResendCutDifferently", testResendCutDifferently},
	{"Timing", testTiming},
	{"Search", testSearch},
	{"SearchRemovedWithCommand", testSearchRemovedWithCommand},
	{"SearchLineByLine", testSearchLineByLine},
	{"IndexConcurrently", testIndexConcurrently},
	{"SearchPrefix", testSearchPrefix},
	{"History", testHistory},
	{"HistoryNotFound", testHistoryNotFound},
	{"Load", testLoad},
	{"LoadAfterRestart", testLoadAfterRestart},
	{"ConcurrentReadsAndApply", testConcurrentReadsAndApply},
	{"Tokens", testTokens},
	{"TokensChangedByAnotherStore", testTokensChangedByAnotherStore},
	{"AuditTrail", testAuditTrail},
	{"TokenScope", testTokenScope},
	{"Sessions", testSessions},
	{"SignInCodes", testSignInCodes},
	{"AgentBindings", testAgentBindings},
	{"ForgetAgent", testForgetAgent},
	{"RevokeEndsSessionsAndBindings", testRevokeEndsSessionsAndBindings},
	{"SSHKeys", testSSHKeys},
	{"SSHKeyTakenOverFromInvalidToken", testSSHKeyTakenOverFromInvalidToken},
	{"RetentionFinished", testRetentionFinished},
	{"RetentionRemove", testRetentionRemove},
	{"RetentionEvents", testRetentionEvents},
	{"RetentionSpaceReused", testRetentionSpaceReused},
}

// Run runs the suite against h's databases, each test a subtest of t.
func Run(t *testing.T, h Harness) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

// T0 has nanoseconds so that a precision loss anywhere shows.
var T0 = time.Date(2026, 11, 26, 5, 0, 0, 123456789, time.UTC)

// Apply applies b to s, failing t on error.
func Apply(t testing.TB, s store.Store, b store.Batch) {
	t.Helper()
	if err := s.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

// Load loads s, failing t on error.
func Load(t testing.TB, s store.Store) store.State {
	t.Helper()
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func history(t testing.TB, s store.Store, q store.HistoryQuery) []wire.Command {
	t.Helper()
	cmds, err := s.History(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
}

// FullAgent sets every field of an agent.
func FullAgent(id string) wire.Agent {
	return wire.Agent{
		AgentInfo: wire.AgentInfo{
			ID: id, Name: "build-" + id, Labels: map[string]string{"pool": "ci", "gpu": ""},
			Hostname: "box", OS: "linux", Arch: "amd64", Version: "0.1.0", MaxConcurrent: 4, NoInput: true,
		},
		Status: wire.AgentBusy, Running: 2, LastSeen: T0,
	}
}

func exitCode(n int) *int { return &n }

// FullCommand sets every field of a final command.
func FullCommand(id string) wire.Command {
	return wire.Command{
		ID: id, AgentID: "a-1", AgentName: "build-1",
		CommandSpec: wire.CommandSpec{
			Argv: []string{"make", "test", "ünïcode", ""}, Cwd: "/src",
			Env: map[string]string{"CI": "1", "EMPTY": ""}, Cols: 120, Rows: 40, TimeoutMS: 600000,
		},
		Session: true, State: wire.StateExited, ExitCode: exitCode(0), Signal: "SIGKILL",
		Reason: "why", RequestedBy: "tui", CreatedAt: T0, StartedAt: T0.Add(time.Second),
		EndedAt: T0.Add(time.Minute), DurationMS: 59000, OutputBytes: 48213, LostBytes: 7,
		Attention: wire.AttentionWaiting, AttentionReason: "Continue? [y/N]", AttentionSince: T0.Add(30 * time.Second),
		Title: "make: ünïcode",
	}
}

// LiveCommand is a command in state created at T0+age.
func LiveCommand(id string, state wire.CommandState, age time.Duration) wire.Command {
	return wire.Command{ID: id, AgentID: "a-1", CommandSpec: wire.CommandSpec{Shell: "true"},
		State: state, CreatedAt: T0.Add(age)}
}

// Pattern is n bytes of output starting at offset off. Every byte value
// occurs, and a byte read from the wrong offset differs.
func Pattern(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := off + int64(i)
		b[i] = byte(x*131 + x>>8)
	}
	return b
}

// Chunks is the output of command id in pieces [off, end), each holding
// Pattern bytes.
func Chunks(id string, spans ...[2]int64) []store.Chunk {
	var out []store.Chunk
	for _, s := range spans {
		out = append(out, store.Chunk{CommandID: id, Offset: s[0], Data: Pattern(s[0], int(s[1]-s[0]))})
	}
	return out
}

func ids(cmds []wire.Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.ID
	}
	return out
}

func newestFirst(cmds []wire.Command) []wire.Command {
	out := slices.Clone(cmds)
	slices.SortFunc(out, func(a, b wire.Command) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
}
