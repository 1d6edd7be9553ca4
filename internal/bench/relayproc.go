package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Environment of a relay child: the generator runs its own executable
// again with these set (see Child).
const (
	envChild = "SWBENCH_RELAY_CHILD"
	envAddr  = "SWBENCH_RELAY_ADDR"
	envDB    = "SWBENCH_RELAY_DB"

	// S7's relays: a PostgreSQL store and a cluster (cluster.go).
	envStore   = "SWBENCH_RELAY_STORE"
	envCluster = "SWBENCH_RELAY_CLUSTER"
	envRelayID = "SWBENCH_RELAY_ID"

	envAgentChild = "SWBENCH_AGENT_CHILD"
	envAgentRelay = "SWBENCH_AGENT_RELAY"
	envAgentName  = "SWBENCH_AGENT_NAME"
	envAgentDir   = "SWBENCH_AGENT_DIR"
	envAgentCA    = "SWBENCH_AGENT_CA" // a CA file to trust for wss://

	envTLSCert = "SWBENCH_RELAY_TLS_CERT" // serve wss:// with this certificate
	envTLSKey  = "SWBENCH_RELAY_TLS_KEY"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// relayOptions say how to run a relay process.
type relayOptions struct {
	db   string
	bin  string   // an external relay binary; empty: this executable as a relay child
	args []string // extra arguments for bin
	env  []string // extra environment for a relay child
	log  io.Writer
	tls  *tlsFiles // serve wss:// with these; nil: ws://
}

// tlsFiles are a local CA and a certificate for 127.0.0.1 signed by it
// (tlsconf.WriteLocalCA), and a client configuration trusting the CA.
type tlsFiles struct {
	caFile, certFile, keyFile string
	client                    *tls.Config
}

// relayAddr is how clients reach a relay.
type relayAddr struct {
	url    string      // ws:// or wss://
	tls    *tls.Config // for wss://
	caFile string      // the CA a real agent is given (--ca)
}

// relayProc is a relay running in a process of its own.
type relayProc struct {
	cmd     *exec.Cmd
	addr    string
	tls     *tlsFiles
	hc      *http.Client  // for /healthz, /metrics and profiles
	started time.Duration // from exec to the first answer of /healthz
	exited  chan error

	stopOnce sync.Once
	stopErr  error
}

// startRelay runs a relay on opts.db and waits until /healthz answers.
func startRelay(ctx context.Context, opts relayOptions) (*relayProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if opts.bin != "" {
		args := append([]string{"--addr", addr, "--db", opts.db, "--log-level", "warn", "--pprof"}, opts.args...)
		if opts.tls != nil {
			args = append(args, "--tls-cert", opts.tls.certFile, "--tls-key", opts.tls.keyFile)
		}
		cmd = exec.Command(opts.bin, args...)
		cmd.Env = os.Environ()
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		cmd = exec.Command(self) // Child takes over before any flag is parsed
		cmd.Env = append(os.Environ(), envChild+"=1", envAddr+"="+addr, envDB+"="+opts.db)
		if opts.tls != nil {
			cmd.Env = append(cmd.Env, envTLSCert+"="+opts.tls.certFile, envTLSKey+"="+opts.tls.keyFile)
		}
		cmd.Env = append(cmd.Env, opts.env...)
	}
	cmd.Stdout, cmd.Stderr = opts.log, opts.log
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	p := &relayProc{cmd: cmd, addr: addr, tls: opts.tls, exited: make(chan error, 1), hc: http.DefaultClient}
	if opts.tls != nil {
		p.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: opts.tls.client}}
	}
	go func() { p.exited <- cmd.Wait() }()
	if err := p.waitHealthy(ctx, began); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHealthy polls /healthz every millisecond and records the start time.
func (p *relayProc) waitHealthy(ctx context.Context, began time.Time) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if p.tls != nil {
		hc.Transport = &http.Transport{DisableKeepAlives: true, TLSClientConfig: p.tls.client}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := hc.Get(p.httpURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.started = time.Since(began)
				return nil
			}
		}
		select {
		case err := <-p.exited:
			return fmt.Errorf("relay exited while starting: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return errors.New("relay did not answer /healthz within 60s")
}

func (p *relayProc) httpURL() string {
	if p.tls != nil {
		return "https://" + p.addr
	}
	return "http://" + p.addr
}

// to says how clients reach the relay.
func (p *relayProc) to() relayAddr {
	if p.tls != nil {
		return relayAddr{url: "wss://" + p.addr, tls: p.tls.client, caFile: p.tls.caFile}
	}
	return relayAddr{url: "ws://" + p.addr}
}
func (p *relayProc) pid() int { return p.cmd.Process.Pid }

// stop shuts the relay down with SIGTERM, as a service manager would. It
// may be called more than once.
func (p *relayProc) stop() error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case p.stopErr = <-p.exited:
		case <-time.After(60 * time.Second):
			p.kill()
			p.stopErr = errors.New("relay did not stop within 60s of SIGTERM")
		}
	})
	return p.stopErr
}

// kill ends the relay at once; only for a relay that failed to start or stop.
func (p *relayProc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// cpu returns the relay's CPU time so far, user and system.
func (p *relayProc) cpu() (time.Duration, error) { return procCPU(p.pid()) }

// procCPU returns a process's CPU time so far, user and system.
func procCPU(pid int) (time.Duration, error) { return procTimes(pid, false) }

// procTimes is procCPU, plus with children the CPU time of the children
// the process has waited for (an agent's finished commands).
func procTimes(pid int, children bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ticks := int64(0)
	fields := []int{11, 12}
	if children {
		fields = append(fields, 13, 14)
	}
	for _, i := range fields {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// rss returns the relay's resident set size in bytes (VmRSS).
func (p *relayProc) rss() (int64, error) { return p.status("VmRSS:") }

// peakRSS returns the relay's largest resident set size so far (VmHWM).
func (p *relayProc) peakRSS() (int64, error) { return p.status("VmHWM:") }

// status reads a size in kB from /proc/PID/status.
func (p *relayProc) status(field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// metrics scrapes /metrics into series name (with labels) -> value.
func (p *relayProc) metrics() (map[string]float64, error) {
	resp, err := p.hc.Get(p.httpURL() + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// profile saves a CPU profile of the relay over d to path.
func (p *relayProc) profile(d time.Duration, path string) error {
	return p.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(d.Seconds()))), path)
}

// trace saves an execution trace of the relay over d to path.
func (p *relayProc) trace(d time.Duration, path string) error {
	return p.fetch(fmt.Sprintf("/debug/pprof/trace?seconds=%g", d.Seconds()), path)
}

// fetch saves what a relay URL path serves to a file.
func (p *relayProc) fetch(urlPath, path string) error {
	resp, err := p.hc.Get(p.httpURL() + urlPath)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", urlPath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: HTTP %s", urlPath, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuMeter measures CPU use over a window: the relay's, this process's
// (the load generator's), and the whole machine's.
type cpuMeter struct {
	p                              *relayProc
	agent                          int // pid of a real agent whose CPU counts apart, or 0
	relay0, self0, agent0, kw0, m0 time.Duration
	wall0                          time.Time
}

// startCPU starts measuring the relay's, the generator's and the
// machine's CPU, and with an agent pid that agent's and its finished
// commands', which are part of the work measured, not other load.
func (p *relayProc) startCPU(agent ...int) cpuMeter {
	m := cpuMeter{p: p}
	if len(agent) > 0 {
		m.agent = agent[0]
		m.agent0, _ = procTimes(m.agent, true)
	}
	m.relay0, _ = p.cpu()
	m.self0, _ = procCPU(os.Getpid())
	m.kw0 = kernelWorkers()
	m.m0, m.wall0 = machineBusy(), time.Now()
	return m
}

// usage is CPU time per second of wall time, in cores. Kernel workers do
// the tty's and the file system's work for the processes measured.
type usage struct{ relay, self, agent, kernel, machine float64 }

func (m cpuMeter) read() usage {
	wall := time.Since(m.wall0).Seconds()
	r, _ := m.p.cpu()
	s, _ := procCPU(os.Getpid())
	u := usage{relay: (r - m.relay0).Seconds() / wall, self: (s - m.self0).Seconds() / wall,
		kernel: (kernelWorkers() - m.kw0).Seconds() / wall, machine: (machineBusy() - m.m0).Seconds() / wall}
	if m.agent != 0 {
		a, _ := procTimes(m.agent, true)
		u.agent = (a - m.agent0).Seconds() / wall
	}
	return u
}

func (m cpuMeter) cores() float64 { return m.read().relay }

func (u usage) String() string {
	agent := ""
	if u.agent > 0 {
		agent = fmt.Sprintf("agent and its finished command %.2f, ", u.agent)
	}
	return fmt.Sprintf("relay %.2f, generator %.2f, %skernel workers %.2f, everything else %.2f of %d cores", u.relay, u.self, agent,
		u.kernel, u.others(), runtime.NumCPU())
}

// others is the CPU used by processes that are not part of the run.
func (u usage) others() float64 { return max(0, u.machine-u.relay-u.self-u.agent-u.kernel) }

// kernelWorkers is the CPU time of the kernel's worker threads (kworker),
// which among other things move PTY output from writer to reader.
func kernelWorkers() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var total time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || !bytes.HasPrefix(comm, []byte("kworker")) {
			continue
		}
		if t, err := procCPU(pid); err == nil {
			total += t
		}
	}
	return total
}

// machineBusy returns the CPU time all processors have spent busy, from
// the first line of /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // not idle, iowait, guest
			busy += n
		}
	}
	return time.Duration(busy) * clockTick
}
