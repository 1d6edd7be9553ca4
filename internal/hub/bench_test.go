package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlite"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Hot-path benchmarks. Message encoding and decoding are benchmarked in
// internal/wire, the store's own batch insert in internal/store/sqlite;
// these cover what the relay adds: fanning one output frame out to N
// dashboards over real sockets, and the persister's path from output
// frames to committed SQLite batches. cmd/swbench measures the whole
// relay under load.

// BenchmarkFanOut appends output frames of 100 B and 16 KiB to a command
// followed by N dashboards, each a real WebSocket on loopback drained by
// a client goroutine; an operation ends when every dashboard has read it.
func BenchmarkFanOut(b *testing.B) {
	for _, size := range []int{100, 16 << 10} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%dB/subscribers=%d", size, n), func(b *testing.B) { benchFanOut(b, size, n) })
		}
	}
}

// fanOutWindow is how many frames of size bytes the benchmark lets each
// dashboard fall behind: well within what makes the relay take a lagging
// dashboard out of the live fan-out (half of sendQueueLen, or of 16 MiB).
func fanOutWindow(size int) int64 { return int64(min(1024, (4<<20)/size)) }

func benchFanOut(b *testing.B, size, n int) {
	m := newMetrics(prometheus.NewRegistry())
	p := newPersister(discardStore{}, slog.New(slog.DiscardHandler), m, func(stored) {})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.run(ctx)
	conns, received := fanOutPeers(b, n)
	out := newOutputLog("c-bench", 0, 1<<20)
	for _, c := range conns {
		d := &dashboard{peer: c}
		out.subs[d] = &subscription{d: d}
	}
	data := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for i := range int64(b.N) {
		if i%64 == 0 {
			// Stay within every dashboard's queue, or the relay would take
			// it out of the live fan-out, as it must.
			waitFanOut(b, conns, received, i-fanOutWindow(size))
		}
		raw := wire.OutputFrame(out.id, off, data)
		f, _ := wire.ParseFrame(raw)
		_, _, _ = out.appendFrame(f, raw, p)
		out.markStored(f.End(), nil) // as the persister would, so memory stays bounded
		off = f.End()
	}
	waitFanOut(b, conns, received, int64(b.N)) // timed: an operation ends when every dashboard has it
}

// waitFanOut waits until every dashboard has read at least want frames.
func waitFanOut(b *testing.B, conns []*transport.Conn, received []atomic.Int64, want int64) {
	deadline := time.Now().Add(time.Minute)
	for i := range received {
		for received[i].Load() < want {
			if closed(conns[i].Done()) {
				why := conns[i].Why()
				b.Fatalf("dashboard %d was disconnected (%s) after %d frames", i, why, received[i].Load())
			}
			if time.Now().After(deadline) {
				b.Fatalf("dashboard %d read %d of %d frames", i, received[i].Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// fanOutPeers connects n dashboard conns, each with a client that reads
// and counts everything written to it. Conns are returned in the order of
// the counters.
func fanOutPeers(b *testing.B, n int) ([]*transport.Conn, []atomic.Int64) {
	engine := transport.NewEngine(transport.Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	accepted := make(chan *transport.Conn, 1)
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := engine.Upgrade(w, r, transport.Accept{Kind: "dashboard", ReadTimeout: time.Minute, MaxPending: 1 << 30})
		if err != nil {
			return
		}
		handlers.Add(1)
		defer handlers.Done()
		c.Start()
		accepted <- c
		_ = c.ReadLoop(func(int, []byte) func() { return nil })
		<-c.Done()
	}))
	received := make([]atomic.Int64, n)
	conns := make([]*transport.Conn, n)
	var clients []*websocket.Conn
	for i := range n {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = <-accepted
		clients = append(clients, ws)
		go func() {
			for {
				_, r, err := ws.NextReader()
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, r)
				received[i].Add(1)
			}
		}()
	}
	b.Cleanup(func() {
		for _, ws := range clients {
			ws.Close()
		}
		handlers.Wait()
		srv.Close()
		engine.Stop()
	})
	return conns, received
}

// BenchmarkPersist measures the persister with a real SQLite store: output
// of 100 B frames from K running commands, merged and committed in
// batches, acknowledged after each commit. An operation is one frame built
// and appended to its output log, which the persister reads when due; the
// benchmark ends when everything is stored.
//
// With timing, each frame is a timed frame carrying the one timing record
// of its output, as an agent's frame does while a command prints a line
// at a time: the persister also merges and stores the records.
func BenchmarkPersist(b *testing.B) {
	for _, cmds := range []int{10, 1000} {
		b.Run(fmt.Sprintf("commands=%d", cmds), func(b *testing.B) { benchPersist(b, cmds, 100, false) })
	}
	b.Run("commands=1000/timing", func(b *testing.B) { benchPersist(b, 1000, 100, true) })
}

func benchPersist(b *testing.B, cmds, size int, timing bool) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var commits atomic.Int64
	p := newPersister(st, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()), func(stored) { commits.Add(1) })
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.run(rctx) }()
	logs := make([]*outputLog, cmds)
	for i := range logs {
		logs[i] = newOutputLog(wire.NewID("c"), 0, 1<<20)
	}
	data := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o := logs[i%cmds]
		off := o.size()
		if !timing {
			raw := wire.OutputFrame(o.id, off, data)
			f, _ := wire.ParseFrame(raw)
			o.appendFrame(f, raw, p)
			continue
		}
		rec := wire.TimingRecord{Seq: uint64(i / cmds), TimeMS: int64(i / cmds * 10), Offset: off}
		raw := wire.AppendTimedFrame(nil, o.id, off, wire.AppendTimingSection(nil, []wire.TimingRecord{rec}), data)
		f, _ := wire.ParseFrame(raw)
		if err := o.addTiming(f.Timing, p); err != nil {
			b.Fatal(err)
		}
		o.appendFrame(f, wire.TimedToOutput(raw, f), p)
	}
	cancel()
	<-done // timed: the persister commits what is left before it returns
	b.StopTimer()
	b.ReportMetric(float64(commits.Load()), "commits")
}

// discardStore is a store that keeps nothing, for benchmarks of the
// relay's own work.
type discardStore struct{}

func (discardStore) Load(context.Context) (store.State, error) { return store.State{}, nil }
func (discardStore) Apply(context.Context, *store.Batch) error { return nil }
func (discardStore) ReadOutput(context.Context, string, int64, int) ([]byte, int64, error) {
	return nil, 0, nil
}
func (discardStore) History(context.Context, store.HistoryQuery) ([]wire.Command, error) {
	return nil, nil
}
func (discardStore) Close() error { return nil }
