package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/internal/pgtest"
	"switchboard/internal/store"
	"switchboard/internal/store/storetest"
	"switchboard/internal/wire"
)

// openURL opens a store at url, closed when the test ends.
func openURL(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openTest opens a store on a schema of its own.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	url := pgtest.URL(t)
	return openURL(t, url), url
}

// harness gives the shared suite a new schema for each test.
var harness = storetest.Harness{
	New: func(t testing.TB) func(testing.TB) storetest.Store {
		url := pgtest.URL(t)
		return func(t testing.TB) storetest.Store { return openURL(t, url) }
	},
	RefuseEvents: func(t testing.TB, s storetest.Store, kind string) func() {
		url := s.(*Store).testURL(t)
		pgtest.Exec(t, url, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'refused'; END $$;
			CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW
			WHEN (NEW.kind = '`+kind+`') EXECUTE FUNCTION refuse()`)
		return func() { pgtest.Exec(t, url, "DROP FUNCTION refuse() CASCADE") }
	},
}

func TestStore(t *testing.T) { storetest.Run(t, harness) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, harness) }

// testURL is the URL the store was opened with, for a connection of a
// test's own to the same schema.
func (s *Store) testURL(t testing.TB) string {
	t.Helper()
	cfg := s.r.Config().ConnConfig
	return pgtest.WithSearchPath(t, pgtest.Server(), cfg.RuntimeParams["search_path"])
}

func TestCloseTwice(t *testing.T) {
	s, _ := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestClean(t *testing.T) {
	tests := map[string]string{
		"":             "",
		"plain":        "plain",
		"ünïcode":      "ünïcode",
		"a\x00b":       "a\uFFFDb",
		"a\xff\xfeb":   "a\uFFFD\uFFFDb",
		"\x00\xc3":     "\uFFFD\uFFFD",
		"ok \uFFFD ok": "ok \uFFFD ok",
	}
	for in, want := range tests {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if s := "unchanged"; strings.Clone(clean(s)) != s {
		t.Error("a clean string changed")
	}
}

// batchOfOutput is round i of a running command's output: 1000 bytes and
// an event.
func batchOfOutput(i int) store.Batch {
	return store.Batch{
		Commands: []wire.Command{storetest.LiveCommand("c-1", wire.StateRunning, 0)},
		Output:   storetest.Chunks("c-1", [2]int64{int64(i * 1000), int64((i + 1) * 1000)}),
		Events:   []store.Event{{Seq: uint64(i + 1), At: storetest.T0}},
	}
}

// TestApplyDoesNotWaitForReads holds every read connection, as a crowd of
// dashboards replaying output would: a batch still commits at once.
func TestApplyDoesNotWaitForReads(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	for range s.r.Config().MaxConns {
		c, err := s.r.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b := batchOfOutput(0)
	if err := s.Apply(wait, &b); err != nil {
		t.Fatalf("Apply with every read connection busy: %v", err)
	}
}

// TestApplyTimesOutOnALockedTable is a batch that cannot go on: another
// session holds the output table locked. Apply gives up at its bound,
// stores nothing, and the retry succeeds once the lock is gone.
func TestApplyTimesOutOnALockedTable(t *testing.T) {
	s, url := openTest(t)
	s.applyTimeout = 300 * time.Millisecond
	conn := pgtest.Connect(t, url)
	defer conn.Close(context.Background())
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), "LOCK TABLE output IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	b := storetest.BatchOfEverything()
	start := time.Now()
	err = s.Apply(context.Background(), &b)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Apply on a locked table: %v after %v, want a timeout", err, time.Since(start))
	}
	t.Log(err)
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	storetest.AssertNothingStored(t, s)
	// The retry is not what is under test: on a loaded machine (load 35 on
	// 2 cores) preparing its statements alone took more than 300 ms.
	s.applyTimeout = defaultApplyTimeout
	storetest.Apply(t, s, b)
	storetest.AssertEverythingStored(t, s)
}

// TestServerOutage takes the server away for a while, as a restart does
// (every connection closed, new ones refused), and brings it back: batches
// fail while it is away, the first after its return succeeds, and nothing
// committed before is lost.
func TestServerOutage(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openURL(t, url)
	ctx := context.Background()
	b := batchOfOutput(0)
	storetest.Apply(t, s, b)

	proxy.Down()
	for i := 1; i <= 3; i++ {
		b := batchOfOutput(1)
		if err := s.Apply(ctx, &b); err == nil {
			t.Fatalf("attempt %d: a batch was stored with the server away", i)
		} else if i == 1 {
			t.Log(err)
		}
	}
	if _, err := s.Load(ctx); err == nil {
		t.Fatal("Load succeeded with the server away")
	}
	proxy.Up()
	b = batchOfOutput(1)
	storetest.Apply(t, s, b)
	st := storetest.Load(t, s)
	if len(st.Commands) != 1 || st.Commands[0].OutputBytes != 2000 || st.EventSeq != 2 {
		t.Fatalf("after the outage: %+v", st)
	}
}

// TestCommitsWaitForTheDisk: by default a commit waits for the server's
// disk; WithAsyncCommit (relay --sync normal) does not; a setting in the
// URL wins.
func TestCommitsWaitForTheDisk(t *testing.T) {
	url := pgtest.URL(t)
	for _, tt := range []struct {
		url  string
		opts []Option
		want string
	}{{url, nil, "on"}, {url, []Option{WithAsyncCommit()}, "off"}, {url + "&synchronous_commit=local", []Option{WithAsyncCommit()}, "local"}} {
		s, err := Open(context.Background(), tt.url, tt.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := s.w.QueryRow(context.Background(), "SHOW synchronous_commit").Scan(&got); err != nil || got != tt.want {
			t.Errorf("%d options: synchronous_commit = %q, %v; want %q", len(tt.opts), got, err, tt.want)
		}
		s.Close()
	}
}
