package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"switchboard/internal/wire"
)

// The environment of every command's terminal, through which `agent
// notify`, run inside it (by an agent CLI's hooks), reaches its agent and
// names its command. The key proves the caller runs in that command.
const (
	EnvNotifySocket = "SWITCHBOARD_NOTIFY_SOCKET"
	EnvCommandID    = "SWITCHBOARD_COMMAND_ID"
	EnvCommandKey   = "SWITCHBOARD_COMMAND_KEY"
)

// Limits of the notify socket: a request is one short line, answered at
// once; a caller that takes longer is cut off.
const (
	notifyMaxRequest = 16 << 10
	notifyWait       = 2 * time.Second
	notifyConns      = 16 // served at once; more wait in the listen backlog
)

// ErrNotInCommand: `agent notify` ran outside any Switchboard command.
var ErrNotInCommand = errors.New("not inside a Switchboard command (" + EnvNotifySocket + " is not set)")

// notifyRequest is the one line of JSON `agent notify` sends.
type notifyRequest struct {
	CommandID string         `json:"command_id"`
	Key       string         `json:"key"`
	State     wire.Attention `json:"state"`
	Message   string         `json:"message,omitempty"`
}

type notifyReply struct {
	Error string `json:"error,omitempty"`
}

// notifier is the agent's end of `agent notify`: a Unix socket in a
// directory only the agent's user may enter.
type notifier struct {
	dir, path string
	ln        net.Listener
}

// openNotifier creates the socket; Run serves it.
func openNotifier() (*notifier, error) {
	dir, err := os.MkdirTemp("", "switchboard-agent-")
	if err != nil {
		return nil, fmt.Errorf("notify socket directory: %w", err)
	}
	path := filepath.Join(dir, "notify.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return &notifier{dir: dir, path: path, ln: ln}, nil
}

// serve answers requests until ctx ends, then removes the socket. It runs
// in a goroutine Run starts and waits for; each request gets a goroutine
// of its own, at most notifyConns at once, each ended by notifyWait.
func (n *notifier) serve(ctx context.Context, a *Agent) {
	defer os.RemoveAll(n.dir)
	stop := context.AfterFunc(ctx, func() { n.ln.Close() })
	defer stop()
	var conns sync.WaitGroup
	defer conns.Wait()
	slots := make(chan struct{}, notifyConns)
	for {
		conn, err := n.ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("agent notify socket failed; hooks no longer reach this agent", "err", err)
			}
			return
		}
		slots <- struct{}{}
		conns.Go(func() {
			defer func() { <-slots }()
			a.answerNotify(conn)
		})
	}
}

func (a *Agent) answerNotify(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(notifyWait))
	line, err := bufio.NewReader(io.LimitReader(conn, notifyMaxRequest)).ReadBytes('\n')
	var req notifyRequest
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err == nil {
		err = a.declare(req)
	}
	var reply notifyReply
	if err != nil {
		reply.Error = err.Error()
		a.log.Debug("refused an agent notify", "command_id", req.CommandID, "err", err)
	}
	b, _ := json.Marshal(reply)
	_, _ = conn.Write(append(b, '\n'))
}

// declare applies what a command's hook said about it.
func (a *Agent) declare(req notifyRequest) error {
	switch req.State {
	case wire.AttentionWaiting, wire.AttentionWorking, wire.AttentionIdle:
	default:
		return fmt.Errorf("state %q is not waiting, working or idle", req.State)
	}
	if p := a.process(req.CommandID); p != nil {
		p.settle()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cmds[req.CommandID]
	if c == nil || subtle.ConstantTimeCompare([]byte(c.key), []byte(req.Key)) != 1 {
		return fmt.Errorf("no command %q here with that key", req.CommandID)
	}
	if c.proc == nil {
		return fmt.Errorf("command %s has ended", req.CommandID)
	}
	c.attn.hook(req.State, wire.CleanText(req.Message, wire.MaxAttentionReason))
	if c.attn.decide(time.Now(), a.cfg.QuietAfter) {
		a.notifyLocked()
	}
	return nil
}

// settleWait bounds how long a hook's state waits for output its program
// wrote before calling the hook to be read.
const settleWait = 100 * time.Millisecond

// settle waits until what the program wrote to its terminal so far has
// been read (at most settleWait): a hook's state then reaches dashboards
// after the question the program printed before it, not ahead of it.
func (p *process) settle() {
	for deadline := time.Now().Add(settleWait); unreadOutput(p.ptmx) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// commandEnv is what a command's environment gets so that `agent notify`
// inside it finds this agent.
func (a *Agent) commandEnv(c *command) []string {
	a.mu.Lock()
	n := a.notifier
	a.mu.Unlock()
	if n == nil {
		return nil
	}
	return []string{EnvNotifySocket + "=" + n.path, EnvCommandID + "=" + c.spec.ID, EnvCommandKey + "=" + c.key}
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Notify tells the agent that runs the current command (found through
// getenv, normally os.Getenv) its new state: what `agent notify` does.
func Notify(ctx context.Context, getenv func(string) string, st wire.Attention, message string) error {
	path := getenv(EnvNotifySocket)
	if path == "" {
		return ErrNotInCommand
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("reach the agent: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req, _ := json.Marshal(notifyRequest{CommandID: getenv(EnvCommandID), Key: getenv(EnvCommandKey), State: st, Message: message})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("tell the agent: %w", err)
	}
	line, err := bufio.NewReader(io.LimitReader(conn, notifyMaxRequest)).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read the agent's answer: %w", err)
	}
	var reply notifyReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return fmt.Errorf("read the agent's answer: %w", err)
	}
	if reply.Error != "" {
		return fmt.Errorf("the agent refused: %s", reply.Error)
	}
	return nil
}
