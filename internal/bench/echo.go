package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/creack/pty"

	"switchboard/internal/wire"
)

// echoShell puts the terminal in raw mode, so that cat itself echoes each
// key as it arrives (no line discipline echo, no line buffering).
// It prints echoReady once the terminal is raw.
const echoShell = "stty raw -echo && printf R && exec cat"

var echoReady = []byte("R")

const echoWarmup = 50

// echoRounds of keys are typed, each through the relay and through a raw
// PTY in turn, so that both see the same spells of a shared machine; the
// samples are pooled.
const echoRounds = 3

// echoCheck collects the bytes echoed back, with when the dashboard
// received the last of them, and wakes the typist.
type echoCheck struct {
	mu     sync.Mutex
	got    []byte
	lastAt int64 // Unix ns: when the dashboard received the last bytes
	wake   chan struct{}
}

func (c *echoCheck) feed(off int64, data []byte, now int64) {
	c.mu.Lock()
	if off == int64(len(c.got)) {
		c.got = append(c.got, data...)
		c.lastAt = now
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// received returns how many bytes came back, and when the last arrived.
func (c *echoCheck) received() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got), c.lastAt
}

func (c *echoCheck) result() streamResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return streamResult{received: int64(len(c.got))}
}

// runEcho is S3: one key at a time from a dashboard to cat in a real PTY
// and back, timed per key; and the same through a raw PTY for reference.
func runEcho(ctx context.Context, e *env) error {
	p, err := e.startRelay(ctx, "s3.db")
	if err != nil {
		return err
	}
	defer p.stop()
	ra, err := e.startRealAgent(p.to(), "s3-echo")
	if err != nil {
		return err
	}
	defer ra.stop()
	d, err := dialDash(ctx, p.to(), "swbench-s3")
	if err != nil {
		return err
	}
	defer d.close()
	if err := waitAgent(d, ra.name); err != nil {
		return err
	}
	id, err := runOne(ctx, d, ra.name, wire.CommandSpec{Shell: echoShell})
	if err != nil {
		return err
	}
	ec := &echoCheck{wake: make(chan struct{}, 1)}
	if err := d.follow(id, ec); err != nil {
		return err
	}
	if err := waitFor(30*time.Second, "the echo command's terminal to be raw", func() bool {
		n, _ := ec.received()
		return n >= len(echoReady)
	}); err != nil {
		return err
	}
	var samples, rawSamples []int64
	typed := slices.Clone(echoReady) // what must come back: the mark, then every key
	for range echoRounds {
		r, err := rawEcho(e.sc.s3Keys)
		if err != nil {
			return err
		}
		rawSamples = append(rawSamples, r...)
		if samples, typed, err = typeKeys(d, id, ec, e.sc.s3Keys, samples, typed); err != nil {
			return err
		}
	}
	lat, raw := summarize(samples), summarize(rawSamples)
	e.rep.figure("S3 p50 µs", lat.p50.Seconds()*1e6)
	e.rep.figure("S3 p99 µs", lat.p99.Seconds()*1e6)
	if err := d.c.Cancel(id); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.waitEnded(wctx); err != nil {
		e.rep.problem("S3", err.Error())
	}
	d.close()
	ec.mu.Lock()
	if !bytes.Equal(ec.got, typed) {
		e.rep.problem("S3", fmt.Sprintf("echo differs from what was typed: typed %d bytes, got %d back", len(typed), len(ec.got)))
	}
	ec.mu.Unlock()
	e.rep.problem("S3", d.errs...)
	e.rep.problem("S3", d.drops...)
	e.rep.add("S3", fmt.Sprintf("interactive echo: key from a dashboard → relay → agent → cat in a real PTY → back (%d rounds, pooled)", echoRounds),
		"p50 ≤ 250 µs, p99 ≤ 1 ms", lat.String(), ptr(lat.n > 0 && lat.p50 <= 250*time.Microsecond && lat.p99 <= time.Millisecond))
	e.rep.add("S3", "reference: one key echoed by cat through a raw PTY, no relay (a round before each round above)", "", raw.String(), nil)
	return nil
}

// typeKeys types n keys (after a warm-up) one at a time, waiting for each
// echo, and appends the round trips to samples and the keys to typed, all
// typed so far. A round trip ends when the dashboard's event loop
// receives the echo, not when this goroutine gets round to looking.
func typeKeys(d *dash, id string, ec *echoCheck, n int, samples []int64, typed []byte) ([]int64, []byte, error) {
	for i := range n + echoWarmup {
		key := []byte{'a' + byte(i%26)}
		began := time.Now().UnixNano()
		if err := d.c.Input(id, key); err != nil {
			return nil, nil, fmt.Errorf("input: %w", err)
		}
		typed = append(typed, key...)
		timeout := time.After(5 * time.Second)
		for {
			n, at := ec.received()
			if n >= len(typed) {
				if i >= echoWarmup {
					samples = append(samples, at-began)
				}
				break
			}
			select {
			case <-ec.wake:
			case <-timeout:
				return nil, nil, fmt.Errorf("key %d: no echo within 5s", i)
			}
		}
	}
	return samples, typed, nil
}

// rawEcho times n keys echoed by cat in a raw-mode PTY read directly.
func rawEcho(n int) ([]int64, error) {
	cmd := exec.Command("sh", "-c", echoShell)
	f, err := pty.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start cat in a pty: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	}()
	buf := make([]byte, 64)
	if _, err := io.ReadFull(f, buf[:len(echoReady)]); err != nil || !bytes.Equal(buf[:len(echoReady)], echoReady) {
		return nil, fmt.Errorf("raw pty echo: waiting for the terminal to be raw: read %q, %v", buf[:len(echoReady)], err)
	}
	var samples []int64
	for i := range n + echoWarmup {
		key := []byte{'a' + byte(i%26)}
		began := time.Now()
		if _, err := f.Write(key); err != nil {
			return nil, err
		}
		k, err := f.Read(buf)
		if err != nil || k != 1 || buf[0] != key[0] {
			return nil, fmt.Errorf("raw pty echo: read %q, %v; want %q", buf[:k], err, key)
		}
		if i >= echoWarmup {
			samples = append(samples, int64(time.Since(began)))
		}
	}
	return samples, nil
}
