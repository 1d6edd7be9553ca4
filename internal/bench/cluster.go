package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"

	"switchboard/internal/wire"
)

// S7: S1's load over three relays joined by NATS and sharing one
// PostgreSQL schema, agents and dashboards on different relays; and the
// time one extra hop (a dashboard on one relay, the agent on another)
// adds to S3's echo.

const s7Relays = 3

// natsProc is the cluster's NATS server: nats-server from PATH in a
// process of its own (its CPU is measured), or in this process.
type natsProc struct {
	url  string
	cmd  *exec.Cmd
	srv  *server.Server
	done chan error
}

func (e *env) startNATS() (*natsProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	dir := filepath.Join(e.work, "nats")
	n := &natsProc{url: "nats://" + addr}
	if bin, err := exec.LookPath("nats-server"); err == nil {
		n.cmd = exec.Command(bin, "-js", "-a", host, "-p", port, "-sd", dir, "-l", filepath.Join(e.work, "nats.log"))
		n.cmd.Stderr = e.cfg.Log
		if err := n.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start nats-server: %w", err)
		}
		n.done = make(chan error, 1)
		go func() { n.done <- n.cmd.Wait() }()
		return n, waitFor(10*time.Second, "nats-server to listen", func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	e.rep.note("S7: no nats-server on PATH: NATS ran inside the load generator, and its CPU is counted as the generator's.")
	var p int
	fmt.Sscan(port, &p)
	srv, err := server.NewServer(&server.Options{Host: host, Port: p, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("in-process NATS not ready within 10s")
	}
	n.srv = srv
	return n, nil
}

func (n *natsProc) pid() int {
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

func (n *natsProc) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// benchSchema creates a PostgreSQL schema for the run (the server at
// SWITCHBOARD_TEST_POSTGRES, as the tests use) and returns a URL that
// selects it, and how to drop it.
func benchSchema(ctx context.Context) (string, func(), error) {
	srv := os.Getenv("SWITCHBOARD_TEST_POSTGRES")
	if srv == "" {
		srv = "postgres://postgres@127.0.0.1:5432/test"
	}
	conn, err := pgx.Connect(ctx, srv)
	if err != nil {
		return "", nil, fmt.Errorf("S7 needs PostgreSQL (SWITCHBOARD_TEST_POSTGRES): %w", err)
	}
	defer conn.Close(ctx)
	schema := "sbbench_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), srv)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	}
	u, err := url.Parse(srv)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// runCluster is S7.
func runCluster(ctx context.Context, e *env) error {
	nats, err := e.startNATS()
	if err != nil {
		return err
	}
	defer nats.stop()
	pg, drop, err := benchSchema(ctx)
	if err != nil {
		return err
	}
	defer drop()
	relays := make([]*relayProc, s7Relays)
	for i := range relays {
		relays[i], err = startRelay(ctx, relayOptions{log: e.cfg.Log, env: []string{envStore + "=" + pg,
			envCluster + "=" + nats.url, fmt.Sprintf("%s=s7r%d", envRelayID, i)}})
		if err != nil {
			return err
		}
		defer relays[i].stop()
	}
	if err := e.clusterFanout(ctx, relays, nats); err != nil {
		return err
	}
	return e.clusterEcho(ctx, relays)
}

// clusterFanout is S1's load with a third of the agents on each relay,
// and each dashboard following streams of agents on the other relays.
func (e *env) clusterFanout(ctx context.Context, relays []*relayProc, nats *natsProc) error {
	sc := e.sc
	started := make(chan *emitter, sc.s1Agents)
	labels := map[string]string{"pool": "s7"}
	onStart := func(a *simAgent, c wire.Command) { started <- &emitter{a: a, cmd: c.ID} }
	relayOf := make(map[*simAgent]int)
	var agents []*simAgent
	defer func() { closeAgents(agents) }()
	for k, p := range relays {
		n := sc.s1Agents / len(relays)
		if k < sc.s1Agents%len(relays) {
			n++
		}
		as, err := dialAgents(ctx, p.to(), n, 32, fmt.Sprintf("s7r%d", k), labels, onStart)
		if err != nil {
			return err
		}
		for _, a := range as {
			relayOf[a] = k
		}
		agents = append(agents, as...)
	}
	dashes := make([]*dash, sc.s1Dashes)
	defer func() {
		for _, d := range dashes {
			if d != nil {
				d.close()
			}
		}
	}()
	for i := range dashes {
		d, err := dialDash(ctx, relays[i%len(relays)].to(), fmt.Sprintf("swbench-s7-%d", i))
		if err != nil {
			return err
		}
		dashes[i] = d
	}
	if err := waitFor(60*time.Second, "every agent seen online on every relay", func() bool {
		for _, d := range dashes[:len(relays)] {
			if d.agentsOnline() < sc.s1Agents {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	ems, err := startAll(ctx, dashes[0], started, sc.s1Agents, wire.Targets{Labels: labels})
	if err != nil {
		return err
	}
	since := time.Now().Add(sc.s1Warmup).UnixNano()
	lats := make([][]int64, len(dashes))
	for i, d := range dashes {
		others := make([]*emitter, 0, len(ems))
		for _, em := range ems {
			if relayOf[em.a] != i%len(relays) {
				others = append(others, em)
			}
		}
		for j := range sc.s1Streams {
			em := others[(i*sc.s1Streams+j*7919)%len(others)]
			if err := d.follow(em.cmd, newMessageCheck(sc.s1MsgSize, since, &lats[i])); err != nil {
				return err
			}
		}
	}
	stop := make(chan struct{})
	var workers sync.WaitGroup
	startEmitters(&workers, ems, sc, stop)
	e.logf("S7: %d agents × %.0f msg/s of %d B over %d relays; %d dashboards × %d streams of agents on other relays",
		sc.s1Agents, sc.s1Rate, sc.s1MsgSize, len(relays), sc.s1Dashes, sc.s1Streams)
	time.Sleep(sc.s1Warmup)
	w := measureCluster(relays, nats, ems, sc.s1Window)
	close(stop)
	workers.Wait()
	sent := sentByCommand(ems)
	r := e.collect(ctx, "S7", ems, dashes, lats, sent, sc.s1MsgSize)
	e.reportCluster(w, r.latency, r.tally, r.msgs, r.drops)
	return nil
}

// clusterWindow is what S7 measured over its steady part.
type clusterWindow struct {
	dur        time.Duration
	relays     float64 // cores, the three relays together
	nats       float64 // cores, NATS (0 when it ran in this process)
	others     float64
	sent       int64 // bytes the agents sent
	relayCores []float64
}

func measureCluster(relays []*relayProc, nats *natsProc, ems []*emitter, d time.Duration) clusterWindow {
	sent0, _ := totals(ems)
	r0 := make([]time.Duration, len(relays))
	for i, p := range relays {
		r0[i], _ = p.cpu()
	}
	var n0 time.Duration
	if pid := nats.pid(); pid != 0 {
		n0, _ = procCPU(pid)
	}
	m := relays[0].startCPU()
	time.Sleep(d)
	u := m.read()
	w := clusterWindow{dur: time.Since(m.wall0)}
	for i, p := range relays {
		r1, _ := p.cpu()
		c := (r1 - r0[i]).Seconds() / w.dur.Seconds()
		w.relayCores = append(w.relayCores, c)
		w.relays += c
	}
	if pid := nats.pid(); pid != 0 {
		n1, _ := procCPU(pid)
		w.nats = (n1 - n0).Seconds() / w.dur.Seconds()
	}
	w.others = max(0, u.machine-w.relays-w.nats-u.self-u.kernel)
	sent1, _ := totals(ems)
	w.sent = sent1 - sent0
	return w
}

func (e *env) reportCluster(w clusterWindow, lat latency, tally streamResult, msgs int64, drops int) {
	sc := e.sc
	r := e.rep
	r.Others = max(r.Others, w.others)
	r.add("S7", fmt.Sprintf("latency, agent send → dashboard receive, agent and dashboard on different relays (%d relays, NATS, PostgreSQL; %d agents × %.0f msg/s × %d B, %d dashboards × %d streams)",
		s7Relays, sc.s1Agents, sc.s1Rate, sc.s1MsgSize, sc.s1Dashes, sc.s1Streams), "p99 < 100 ms", lat.String(), ptr(lat.n > 0 && lat.p99 < 100*time.Millisecond))
	lost := tally.missing + tally.repeated + tally.corrupt
	r.add("S7", "messages lost (followed streams, checked to the last byte)", "0",
		fmt.Sprintf("%d of %d messages; %d B missing, %d B repeated, %d corrupt; %d dashboard disconnects",
			lost/int64(sc.s1MsgSize), msgs, tally.missing, tally.repeated, tally.corrupt, drops), ptr(lost == 0 && drops == 0))
	perMsg := time.Duration(0)
	if n := float64(w.sent) / float64(sc.s1MsgSize); n > 0 {
		perMsg = time.Duration((w.relays + w.nats) * w.dur.Seconds() / n * 1e9)
	}
	vs := "S1 did not run"
	if e.s1PerMsg > 0 {
		vs = fmt.Sprintf("one relay in S1: %s, %.1f×", fmtDur(e.s1PerMsg), float64(perMsg)/float64(e.s1PerMsg))
	}
	r.add("S7", "CPU per message sent: three relays and NATS together, vs one relay", "",
		fmt.Sprintf("%s (%s); relays %.2f cores (%s), NATS %.2f", fmtDur(perMsg), vs, w.relays, coresList(w.relayCores), w.nats), nil)
}

func coresList(cs []float64) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%.2f", c)
	}
	return strings.Join(parts, " + ")
}

// clusterEcho types into cat on an agent of relay 1, in turns from a
// dashboard on the same relay and from one on relay 0, and reports how
// much the hop between relays adds.
func (e *env) clusterEcho(ctx context.Context, relays []*relayProc) error {
	ra, err := e.startRealAgent(relays[1].to(), "s7-echo")
	if err != nil {
		return err
	}
	defer ra.stop()
	same, err := dialDash(ctx, relays[1].to(), "swbench-s7-same")
	if err != nil {
		return err
	}
	defer same.close()
	cross, err := dialDash(ctx, relays[0].to(), "swbench-s7-cross")
	if err != nil {
		return err
	}
	defer cross.close()
	if err := waitAgent(cross, ra.name); err != nil {
		return err
	}
	id, err := runOne(ctx, cross, ra.name, wire.CommandSpec{Shell: echoShell})
	if err != nil {
		return err
	}
	ecSame, ecCross := &echoCheck{wake: make(chan struct{}, 1)}, &echoCheck{wake: make(chan struct{}, 1)}
	if err := waitFor(10*time.Second, "the echo command known on both relays", func() bool {
		_, a := same.c.State().Commands[id]
		_, b := cross.c.State().Commands[id]
		return a && b
	}); err != nil {
		return err
	}
	if err := same.follow(id, ecSame); err != nil {
		return err
	}
	if err := cross.follow(id, ecCross); err != nil {
		return err
	}
	if err := waitFor(30*time.Second, "the echo command's terminal to be raw on both dashboards", func() bool {
		a, _ := ecSame.received()
		b, _ := ecCross.received()
		return a >= len(echoReady) && b >= len(echoReady)
	}); err != nil {
		return err
	}
	var sameLat, crossLat []int64
	typed := []byte(string(echoReady))
	for range echoRounds {
		var s []int64
		if crossLat, typed, err = typeKeys(cross, id, ecCross, e.sc.s3Keys, crossLat, typed); err != nil {
			return fmt.Errorf("typing across relays: %w", err)
		}
		if err := waitFor(5*time.Second, "the other dashboard to catch up", func() bool { n, _ := ecSame.received(); return n >= len(typed) }); err != nil {
			return err
		}
		if s, typed, err = typeKeys(same, id, ecSame, e.sc.s3Keys, sameLat, typed); err != nil {
			return fmt.Errorf("typing on the agent's relay: %w", err)
		}
		sameLat = s
		if err := waitFor(5*time.Second, "the other dashboard to catch up", func() bool { n, _ := ecCross.received(); return n >= len(typed) }); err != nil {
			return err
		}
	}
	if err := cross.c.Cancel(id); err != nil {
		return err
	}
	sl, cl := summarize(sameLat), summarize(crossLat)
	added := cl.p50 - sl.p50
	e.rep.problem("S7", same.errs...)
	e.rep.problem("S7", cross.errs...)
	e.rep.add("S7", fmt.Sprintf("echo (as S3) with the dashboard on another relay than the agent, against a dashboard on the agent's relay, in turns (%d rounds)", echoRounds),
		"added p50 < 300 µs", fmt.Sprintf("added p50 %s; across relays %s; same relay %s", fmtDur(added), cl, sl), ptr(cl.n > 0 && sl.n > 0 && added < 300*time.Microsecond))
	return nil
}
