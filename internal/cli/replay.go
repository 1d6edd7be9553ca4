package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"switchboard/internal/recording"
)

// MaxReplayBytes is the most output replay holds: a replay keeps the
// command's whole output in memory, to play and to seek in.
const MaxReplayBytes = 512 << 20

// Replay's speeds: as asciinema play takes them, within bounds that keep
// a frame's wait meaningful.
const (
	minReplaySpeed = 0.01
	maxReplaySpeed = 1000.0
)

// replay plays a past command in this terminal with its recorded timing.
func replay(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("replay", env, "tui replay COMMAND_ID [--speed N] [--idle-limit D]: play a command's recording "+
		"in this terminal, as it happened. In a terminal, space pauses and resumes, q or ^C stops. "+
		"A command still running is played up to where it is.")
	speed := fs.Float64("speed", 1, fmt.Sprintf("Play this many times as fast (%g to %g).", minReplaySpeed, maxReplaySpeed))
	idle := fs.Duration("idle-limit", 0, "Cut every pause longer than this to this (like asciinema's --idle-time-limit); 0: keep pauses.")
	pos, code := parseAround(fs, args)
	if code != nil {
		return *code
	}
	switch {
	case len(pos) != 1:
		fmt.Fprintln(env.Stderr, "replay: give exactly one command id")
		return ExitUsage
	case !(*speed >= minReplaySpeed && *speed <= maxReplaySpeed):
		fmt.Fprintf(env.Stderr, "replay: --speed %g is out of range: give %g to %g\n", *speed, minReplaySpeed, maxReplaySpeed)
		return ExitUsage
	case *idle < 0:
		fmt.Fprintf(env.Stderr, "replay: --idle-limit %v is negative: give 0 (keep pauses) or more\n", *idle)
		return ExitUsage
	}
	p, err := loadReplay(ctx, env, c, pos[0], *idle)
	if err != nil {
		return fail(env, "replay: %v", err)
	}
	return play(ctx, env, p, *speed)
}

// loadReplay fetches a command's recording and output.
func loadReplay(ctx context.Context, env Env, c *common, id string, idle time.Duration) (*recording.Player, error) {
	cl, err := c.dial(ctx, env)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	cmd, events, err := loadCommand(ctx, cl, id)
	if err != nil {
		return nil, err
	}
	if cmd.OutputBytes > MaxReplayBytes {
		return nil, fmt.Errorf("command %s has %d bytes of output, more than replay holds (%d): export it instead (tui export)",
			cmd.ID, cmd.OutputBytes, MaxReplayBytes)
	}
	var out bytes.Buffer
	out.Grow(int(cmd.OutputBytes))
	err = readOutput(ctx, cl, cmd.ID, cmd.OutputBytes, func(off int64, data []byte) error {
		if off > int64(out.Len()) { // bytes the agent lost: nothing to play there
			out.Write(make([]byte, off-int64(out.Len())))
		}
		if skip := int64(out.Len()) - off; skip < int64(len(data)) {
			out.Write(data[max(skip, 0):])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read output: %w", err)
	}
	return recording.NewPlayer(recording.TimelineOf(cmd, events).WithIdleLimit(idle), out.Bytes()), nil
}

// errStopped: the user stopped the replay (q).
var errStopped = errors.New("stopped")

// play writes the recording's output to env.Stdout at its times.
func play(ctx context.Context, env Env, p *recording.Player, speed float64) int {
	interrupts := env.Interrupt
	if interrupts == nil {
		signals := make(chan os.Signal, 2)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(signals)
		interrupts = signals
	}
	tty := openTerminal(env)
	defer tty.close()
	clock := recording.NewClock(speed, time.Now())
	err := playFrames(ctx, env, p, clock, interrupts, tty.keys)
	tty.restore(env.Stdout, p)
	switch {
	case err == nil, errors.Is(err, errStopped):
		return 0
	case errors.Is(err, errInterrupted):
		return ExitCanceled
	default:
		return fail(env, "replay: %v", err)
	}
}

// errInterrupted: ^C, or SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// playFrames is play's loop: it waits for the next frame's time, writes
// every frame then due in one write, and takes the user's keys between.
func playFrames(ctx context.Context, env Env, p *recording.Player, clock *recording.Clock,
	interrupts <-chan os.Signal, keys <-chan byte) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var buf []byte
	for !p.Done() {
		next, _ := p.NextAt()
		var wake <-chan time.Time
		if at, ok := clock.WallAt(next); ok {
			timer.Reset(time.Until(at))
			wake = timer.C
		}
		select {
		case <-wake:
		case k := <-keys:
			switch k {
			case 3: // ^C
				return errInterrupted
			case 'q':
				return errStopped
			case ' ':
				clock.SetPlaying(!clock.Playing(), time.Now())
			}
		case <-interrupts:
			return errInterrupted
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = buf[:0]
		for _, f := range p.Advance(clock.At(time.Now())) {
			buf = append(buf, f.Data...) // a resize: the user's terminal keeps its size
		}
		if len(buf) > 0 {
			if _, err := env.Stdout.Write(buf); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		timer.Stop()
	}
	return nil
}
