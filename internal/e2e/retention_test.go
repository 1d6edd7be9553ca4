package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/client"
	"switchboard/internal/pgtest"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/wire"

	_ "modernc.org/sqlite" // the audit trail read from the relay's file
)

// runToEnd runs shell on the agent and waits for the command to end.
func runToEnd(t *testing.T, cl *client.Client, agent, shell string) string {
	t.Helper()
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{agent}}, wire.CommandSpec{Shell: shell})
	if err != nil {
		t.Fatal(err)
	}
	id := cmds[0].ID
	relaytest.Eventually(t, 30*time.Second, id+" ended", func() bool { return cl.State().Commands[id].State.Final() })
	return id
}

// historyIDs is what tui history --json lists.
func historyIDs(t *testing.T, addr string) []string {
	t.Helper()
	stdout, stderr, code := tui(t, addr, "history", "--json", "--limit", "1000")
	if code != 0 {
		t.Fatalf("tui history: code %d: %s", code, stderr)
	}
	var cmds []wire.Command
	if err := json.Unmarshal([]byte(stdout), &cmds); err != nil {
		t.Fatalf("tui history --json: %v: %s", err, stdout)
	}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.ID
	}
	return ids
}

func asciicastStatus(t *testing.T, addr, id string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/commands/" + id + "/asciicast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRetainRemovesOldFinishedCommands: with the real relay at --retain
// 2s, a finished command is in history, its logs and its recording, and
// then, two seconds after it ended, nowhere (history, tui logs, the
// asciicast endpoint say so, and a connected dashboard's state drops it),
// with an audit row naming it; a command that runs all along stays,
// output and all. On SQLite and PostgreSQL.
func TestRetainRemovesOldFinishedCommands(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "sb.db")
		testRetain(t, db, func() []string { return auditDetails(t, db, "retention_remove") })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		testRetain(t, url, func() []string {
			conn := pgtest.Connect(t, url)
			rows, _ := conn.Query(context.Background(), "SELECT detail FROM audit WHERE action = 'retention_remove'")
			details, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return details
		})
	})
}

func testRetain(t *testing.T, storeAt string, audit func() []string) {
	addr := proctest.FreeAddr(t)
	startRelay(t, addr, storeAt, "--retain", "2s")
	start(t, "agent", "--relay", "ws://"+addr, "--name", "keep-box", "--state-dir", t.TempDir())
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "keep-box")
	cmds, err := cl.Run(context.Background(), wire.Targets{Agents: []string{"keep-box"}},
		wire.CommandSpec{Shell: "echo long-runner; sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	running := cmds[0].ID
	old := runToEnd(t, cl, "keep-box", "echo soon-gone")
	if ids := historyIDs(t, addr); !slices.Contains(ids, old) || !slices.Contains(ids, running) {
		t.Fatalf("history %v lacks %s or %s", ids, old, running)
	}
	if logs, _, code := tui(t, addr, "logs", old); code != 0 || !strings.Contains(logs, "soon-gone") {
		t.Fatalf("tui logs %s: code %d, %q", old, code, logs)
	}
	if code := asciicastStatus(t, addr, old); code != http.StatusOK {
		t.Fatalf("asciicast of %s: %d", old, code)
	}
	relaytest.Eventually(t, 15*time.Second, old+" removed", func() bool { return !slices.Contains(historyIDs(t, addr), old) })
	// The connected dashboard was told (command.removed).
	relaytest.Eventually(t, 5*time.Second, old+" gone from the dashboard's state", func() bool {
		_, ok := cl.State().Commands[old]
		return !ok
	})
	if _, stderr, code := tui(t, addr, "logs", old); code == 0 || !strings.Contains(stderr, "not found") && !strings.Contains(stderr, "no command") {
		t.Errorf("tui logs of a removed command: code %d, %q", code, stderr)
	}
	if code := asciicastStatus(t, addr, old); code != http.StatusNotFound {
		t.Errorf("asciicast of a removed command: %d, want 404", code)
	}
	time.Sleep(3 * time.Second) // more passes than --retain: the running command stays
	if ids := historyIDs(t, addr); !slices.Contains(ids, running) {
		t.Errorf("the running command left history: %v", ids)
	}
	if logs, _, code := tui(t, addr, "logs", running); code != 0 || !strings.Contains(logs, "long-runner") {
		t.Errorf("tui logs of the running command: code %d, %q", code, logs)
	}
	// Without authentication dashboards have no audit trail to read;
	// the relay keeps it in the store all the same.
	details := audit()
	if !slices.ContainsFunc(details, func(d string) bool { return strings.Contains(d, old) && !strings.Contains(d, running) }) {
		t.Errorf("no audit row names %s's removal alone: %q", old, details)
	}
}

// auditDetails reads the details of a SQLite file's audit rows of action,
// through a read-only connection beside the relay's.
func auditDetails(t *testing.T, path, action string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT detail FROM audit WHERE action = ?", action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMaxDBSizeKeepsFileBounded: with the real relay at --max-db-size
// 6M, a steady load of commands writing 1.5 MiB of lines each (and the
// search index of them), 45 MiB of output in all, leaves a database file
// that stops growing: past the first commands it stays within the limit
// and what arrives between two passes, while the newest command stays
// whole.
func TestMaxDBSizeKeepsFileBounded(t *testing.T) {
	addr := proctest.FreeAddr(t)
	db := filepath.Join(t.TempDir(), "sb.db")
	startRelay(t, addr, db, "--max-db-size", "6M", "--retention-every", "250ms")
	start(t, "agent", "--relay", "ws://"+addr, "--name", "big-box", "--state-dir", t.TempDir())
	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "big-box")
	// 7,825 lines of 204 bytes, a command a second or so (binaries
	// built with -race on a shared machine remove a few times slower
	// than a production build, which kept up with four a second). Each
	// line is stored twice: as output and in a block of the search index
	// (one word: the full-text index itself stays small), so that a
	// store holding one such command takes 4.2 MB.
	const lines, commands = 7825, 30
	const log = `awk 'BEGIN{s=sprintf("%200s",""); gsub(/ /,"x",s); for(i=0;i<7825;i++) print s " ok"}'; sleep 1`
	var sizes []int64
	var last string
	for range commands {
		last = runToEnd(t, cl, "big-box", log)
		fi, err := os.Stat(db)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	// The main file holds what the WAL's checkpoints (every 1,000 pages,
	// 16 MiB) put there, vacuumed pages given back only then: 6 MiB,
	// what a pass or two let in (output and index), a checkpoint's lag.
	// 90 MiB (output and index) go through it.
	if peak := slices.Max(sizes[commands/2:]); peak > 24<<20 {
		t.Errorf("after %d commands of 1.5 MiB the file reached %d bytes (sizes after each command: %v)", commands, peak, sizes)
	}
	ids := historyIDs(t, addr)
	// Each command takes 4.2 MB with its index, so at 6M only the newest
	// is sure to stay (at 4M it would go too, as soon as it ended: the
	// limit bounds the store, whatever a command holds); a slower build
	// (-race) keeps a few more.
	if len(ids) > commands/2 || len(ids) == 0 || ids[0] != last {
		t.Errorf("history after the run: %d commands, newest %v; want the newest (and a few more at most)", len(ids), ids[:min(len(ids), 1)])
	}
	logs, _, code := tui(t, addr, "logs", last)
	if n := strings.Count(logs, " ok\r\n"); code != 0 || n != lines || !strings.HasPrefix(logs, "xxxx") {
		t.Errorf("the newest command's output: code %d, %d lines, want %d", code, n, lines)
	}
	t.Logf("file sizes after each of %d commands of 1.5 MiB: %v", commands, sizes)
}
