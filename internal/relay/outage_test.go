package relay_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/relay"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/wire"
)

// outageStore is a real store whose writes fail while down is set.
type outageStore struct {
	*sqlite.DB
	down atomic.Bool
}

func (s *outageStore) Apply(ctx context.Context, b *store.Batch) error {
	if s.down.Load() {
		return errors.New("database or disk is full")
	}
	return s.DB.Apply(ctx, b)
}

// TestNoStartBeforeStored: a command starts only once its record is
// stored. Were it sent to its agent before, a relay restarted meanwhile
// would not know the command the agent holds and would discard its output
// (internal/chaos, TestStorageFaults).
func TestNoStartBeforeStored(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := &outageStore{DB: db}
	r, err := relay.New(ctx, relay.Config{NoAuth: true, Logger: slog.New(slog.DiscardHandler)}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	ag := dialURL(t, url+wire.AgentPath)
	ag.send(&wire.Hello{Protocol: wire.ProtocolVersion, Agent: &wire.AgentInfo{ID: "a-box", Name: "box", MaxConcurrent: 1}})
	expect[*wire.Welcome](ag)
	dash := dialURL(t, url+wire.DashboardPath)
	helloDashboard(dash)

	st.down.Store(true)
	dash.send(&wire.Run{RequestID: "r1", Targets: wire.Targets{Agents: []string{"box"}}, CommandSpec: wire.CommandSpec{Argv: []string{"true"}}})
	id := expect[*wire.RunAccepted](dash).Commands[0].ID
	_ = ag.ws.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		_, data, err := ag.ws.ReadMessage()
		if err != nil {
			break // nothing more within the wait: good
		}
		if m, _ := wire.Decode(data); m != nil {
			if s, ok := m.(*wire.Start); ok {
				t.Fatalf("start for %s while its record could not be stored", s.Command.ID)
			}
		}
	}
	ag.ws.Close()

	// The agent comes back (a read deadline spoils a gorilla connection),
	// and the store recovers: now the command starts.
	ag = dialURL(t, url+wire.AgentPath)
	ag.send(&wire.Hello{Protocol: wire.ProtocolVersion, Agent: &wire.AgentInfo{ID: "a-box", Name: "box", MaxConcurrent: 1}})
	expect[*wire.Welcome](ag)
	st.down.Store(false)
	if s := expect[*wire.Start](ag); s.Command.ID != id {
		t.Fatalf("start for %s, want %s", s.Command.ID, id)
	}
}

func dialURL(t *testing.T, url string) *rawPeer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &rawPeer{t: t, ws: ws}
}
