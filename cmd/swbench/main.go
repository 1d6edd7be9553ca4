// Command swbench is Switchboard's load generator. It starts a real relay
// on a real SQLite file, drives it with simulated and real agents and
// dashboards over WebSockets, runs the performance scenarios S1 to S5,
// checks that no output was lost or duplicated, and prints one results
// table (and, with --out, writes docs/benchmarks.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"switchboard/internal/bench"
)

const summary = `Usage: swbench [flags]

swbench runs the Switchboard performance scenarios against a real relay
(started as a child process on a fresh SQLite file) and prints one results
table. With --quick it runs each scenario for a few seconds at reduced scale
and only checks that nothing was lost or duplicated.

Flags:
`

func main() {
	bench.Child() // when started as the relay or agent child, serve and exit
	os.Exit(run(os.Args[1:]))
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string) int {
	fs := flag.NewFlagSet("swbench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "Run each scenario briefly at reduced scale and check correctness only.")
	out := fs.String("out", "", "Write the results, the command line and the machine to this Markdown file (e.g. docs/benchmarks.md).")
	only := fs.String("only", "", "Comma-separated scenarios to run, e.g. S1,S3. Default: all.")
	work := fs.String("workdir", "", "Directory for databases and test files. Default: a temporary directory, removed afterwards.")
	relayBin := fs.String("relay-bin", "", "Run this relay binary instead of swbench's own relay child; it must accept connections without a token.")
	var relayArgs listFlag
	fs.Var(&relayArgs, "relay-arg", "An extra argument for --relay-bin (repeatable), e.g. --relay-arg=--insecure-no-auth.")
	profile := fs.String("profile", "", "Save CPU profiles of the relay during S1, S2 and S4 into this directory.")
	traceDir := fs.String("trace", "", "Save a 3 s execution trace of the relay from the middle of S1, S2 and S4's measured windows into this directory, and print how long its goroutines waited for a CPU, by kind.")
	goBench := fs.String("gobench", "", "Include this file of `go test -bench` output in --out.")
	s1Agents := fs.Int("s1-agents", 0, "Run S1 with this many agents instead of 1,000 (40 with --quick).")
	s1Rate := fs.Float64("s1-rate", 0, "Run S1 with this many messages per second per agent instead of 100.")
	withTLS := fs.Bool("tls", false, "Also run S1, S2 and S3 over wss:// (a relay serving TLS with a local CA's certificate); their rows say TLS.")
	abOld := fs.String("ab-old", "", "Compare this relay binary with --ab-new: S1, S2 and S3 (or --only) on one, then the other, the order swapped each round; print each relay's medians. Writes no --out.")
	abNew := fs.String("ab-new", "", "The relay binary --ab-old is compared with.")
	abRounds := fs.Int("ab-rounds", 3, "Rounds of the --ab-old comparison.")
	shared := fs.Bool("shared", false, "Say in --out that other work ran on the machine during the run (also said when other processes used 0.2 cores or more while swbench measured).")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg := bench.Config{Quick: *quick, WorkDir: *work, RelayBin: *relayBin, RelayArgs: relayArgs, ProfileDir: *profile,
		TraceDir: *traceDir, S1Agents: *s1Agents, S1Rate: *s1Rate, TLS: *withTLS}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	for _, dir := range []string{cfg.ProfileDir, cfg.TraceDir} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "swbench:", err)
			return 1
		}
	}
	machine := bench.ThisMachine()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *abOld != "" || *abNew != "" {
		return runAB(ctx, bench.ABConfig{Base: cfg, Old: *abOld, New: *abNew, Rounds: *abRounds}, machine)
	}
	rep, err := bench.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(os.Stderr, "swbench:", err)
		return 1
	}
	rep.PrintTable(os.Stdout)
	if *out != "" {
		doc := &bench.Document{Report: rep, Machine: machine, LoadAfter: bench.LoadAfter(),
			Command: strings.Join(os.Args, " "), Shared: *shared}
		if werr := writeDoc(*out, *goBench, doc); werr != nil {
			fmt.Fprintln(os.Stderr, "swbench:", werr)
			return 1
		}
	}
	if err != nil || len(rep.Problems) > 0 {
		if err != nil {
			fmt.Fprintln(os.Stderr, "swbench:", err)
		}
		return 1
	}
	return 0
}

func writeDoc(path, goBench string, doc *bench.Document) error {
	if old, err := os.ReadFile(path); err == nil {
		doc.Kept = bench.KeptSections(string(old))
	}
	if goBench != "" {
		b, err := os.ReadFile(goBench)
		if err != nil {
			return fmt.Errorf("read go benchmark output: %w", err)
		}
		doc.GoBench = string(b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := doc.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runAB(ctx context.Context, cfg bench.ABConfig, machine bench.Machine) int {
	if cfg.Old == "" || cfg.New == "" || cfg.Rounds < 1 {
		fmt.Fprintln(os.Stderr, "swbench: --ab-old and --ab-new name two relay binaries, and --ab-rounds is at least 1")
		return 2
	}
	fmt.Printf("A/B on %s, %d cores, %s; load average %s at the start\n", machine.CPU, machine.Cores, machine.Date.Format("2006-01-02 15:04 UTC"), machine.Load)
	rep, err := bench.RunAB(ctx, cfg)
	rep.PrintTable(os.Stdout)
	fmt.Printf("load average %s at the end\n", bench.LoadAfter())
	if err != nil || len(rep.Problems) > 0 {
		if err != nil {
			fmt.Fprintln(os.Stderr, "swbench:", err)
		}
		return 1
	}
	return 0
}
