package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/pgtest"
	"switchboard/internal/proctest"
	"switchboard/internal/relaytest"
	"switchboard/internal/store"
	"switchboard/internal/store/postgres"
	"switchboard/internal/wire"
)

// TestPostgresStore runs the real relay on PostgreSQL with tokens on, as
// an operator would: `relay token create --store` makes the tokens, a real
// agent runs a command that a dashboard watches. Mid-stream the server
// ends the relay's connections again and again, and then is away for a
// second (every connection closed, new ones refused), as PostgreSQL
// restarts do; streaming goes on, and every byte still reaches the
// dashboard and the database once. After a relay restart the CLI reads the
// same history and output back.
func TestPostgresStore(t *testing.T) {
	direct := pgtest.URL(t)
	proxy, pg := pgtest.NewProxy(t, direct) // the relay's way to the server
	admin := relayToken(t, direct, "admin", "pg-admin")
	agentToken := relayToken(t, direct, "agent", "pg-agent")
	addr := proctest.FreeAddr(t)
	relay := startRelay(t, addr, pg, "--secure")
	start(t, "agent", "--relay", "ws://"+addr, "--token", agentToken, "--name", "pg-worker", "--state-dir", t.TempDir())

	cl, err := client.Dial(context.Background(), client.Config{Relay: "ws://" + addr, Token: admin, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitIdle(t, cl, "pg-worker")
	id, want := followLines(t, cl, "pg-worker", 600)
	var got bytes.Buffer
	follow(t, cl, id, &got, "line 50\r\n")
	stop := cutConnections(t, pg, 100*time.Millisecond)
	follow(t, cl, id, &got, "line 250\r\n")
	if rounds := stop(); rounds == 0 {
		t.Fatal("the relay held no connection to PostgreSQL to end")
	}
	proxy.Down()
	follow(t, cl, id, &got, "line 400\r\n") // live while the server is away
	// Stay away until a commit has met the outage: on a loaded machine
	// the 150 lines above can pass between two commits.
	relaytest.Eventually(t, 30*time.Second, "a store batch failing while the server is away", func() bool {
		return strings.Contains(relay.LogText(), "store write failed")
	})
	proxy.Up()
	follow(t, cl, id, &got, "")

	if got.String() != want {
		t.Fatalf("dashboard output differs: got %d bytes, want %d", got.Len(), len(want))
	}
	relaytest.Eventually(t, 20*time.Second, "the final state stored", func() bool {
		c, err := storedCommand(direct, id)
		return err == nil && c.State == wire.StateExited
	})
	assertStoredOutput(t, direct, id, want)

	if log := relay.LogText(); !strings.Contains(log, "store write failed") {
		t.Fatalf("no store batch failed and was retried: the test cut nothing that mattered\n%s", log)
	}
	relay.Stop(syscall.SIGTERM)
	startRelay(t, addr, pg, "--secure")
	out, stderr, code := tui(t, addr, "history", "--json", "--token", admin)
	var hist []wire.Command
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 1 || hist[0].ID != id ||
		hist[0].ExitCode == nil || *hist[0].ExitCode != 0 || hist[0].OutputBytes != int64(len(want)) {
		t.Fatalf("history after a restart: code %d, %s %s", code, out, stderr)
	}
	out, stderr, code = tui(t, addr, "logs", "--token", admin, id)
	if code != 0 || out != want {
		t.Fatalf("logs after a restart: code %d, %d bytes (want %d), %s", code, len(out), len(want), stderr)
	}
}

// cutConnections ends the server side of every connection to pg's schema
// each interval until stop is called, which returns how many times it
// found any to end.
func cutConnections(t *testing.T, pg string, interval time.Duration) (stop func() int) {
	done, rounds := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				rounds <- n
				return
			case <-tick.C:
				ended, err := pgtest.Terminate(pg)
				if err != nil {
					t.Error(err)
				}
				if ended > 0 {
					n++
				}
			}
		}
	}()
	return func() int { close(done); return <-rounds }
}

// follow collects the command's output from cl into got until got holds
// until, or, when until is empty, until the output ends.
func follow(t *testing.T, cl *client.Client, id string, got *bytes.Buffer, until string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for until == "" || !strings.Contains(got.String(), until) {
		select {
		case ev := <-cl.Events():
			switch ev := ev.(type) {
			case client.Output:
				if ev.CommandID != id {
					continue
				}
				if ev.Offset != int64(got.Len()) {
					t.Fatalf("output at offset %d, have %d", ev.Offset, got.Len())
				}
				got.Write(ev.Data)
			case client.OutputEnd:
				if until == "" && ev.CommandID == id {
					return
				}
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %q; have %d bytes", until, got.Len())
		}
	}
}

func storedCommand(pg, id string) (wire.Command, error) {
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		return wire.Command{}, err
	}
	defer st.Close()
	cmds, err := st.History(context.Background(), store.HistoryQuery{ID: id})
	if err != nil {
		return wire.Command{}, err
	}
	return cmds[0], nil
}

func assertStoredOutput(t *testing.T, pg, id, want string) {
	t.Helper()
	st, err := postgres.Open(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, _, err := st.ReadOutput(context.Background(), id, 0, 1<<20)
	if err != nil || string(stored) != want {
		t.Fatalf("output in PostgreSQL: %d bytes (%v); want %d bytes", len(stored), err, len(want))
	}
}

// relayToken makes a token with `relay token create --store` and returns
// its secret.
func relayToken(t *testing.T, storeURL, role, name string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "relay"), "token", "create", "--store", storeURL, "--role", role, "--name", name).Output()
	if err != nil {
		t.Fatalf("relay token create --store: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}
