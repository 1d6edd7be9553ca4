package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// ABConfig says how to compare two relay binaries: S1, S2 and S3 (or
// those Base.Only names), each run on one relay and then on the other,
// the order swapped every round, so that both meet the same spells of a
// shared machine.
type ABConfig struct {
	Base     Config // what each run is; its RelayBin is set per run
	Old, New string // relay binaries
	Rounds   int
}

// abArgs are what both relays are started with: no tokens (the
// generator has none), and room for a thousand agents connecting at once
// from one address, as the generator's own relay child allows.
var abArgs = []string{"--insecure-no-auth", "--max-unauthenticated=1048576", "--max-unauthenticated-per-ip=1048576"}

// abTargets are the targets of the figures compared, as the scenarios
// state them.
var abTargets = map[string]struct {
	target string
	met    func(float64) bool
}{
	"S1 p99 ms":       {"< 50", func(v float64) bool { return v < 50 }},
	"S1 relay cores":  {"< 1", func(v float64) bool { return v < 1 }},
	"S2 MB/s":         {"≥ 200", func(v float64) bool { return v >= 200 }},
	"S2 PTY % of raw": {"≥ 80", func(v float64) bool { return v >= 80 }},
	"S3 p50 µs":       {"≤ 250", func(v float64) bool { return v <= 250 }},
	"S3 p99 µs":       {"≤ 1000", func(v float64) bool { return v <= 1000 }},
}

// ABReport holds every run's figures, by relay ("old", "new") and name.
type ABReport struct {
	Rounds   int
	Figures  map[string]map[string][]float64
	Problems []string
}

// RunAB runs the comparison. Runs that fail are reported and the rest go
// on.
func RunAB(ctx context.Context, cfg ABConfig) (*ABReport, error) {
	only := cfg.Base.Only
	if len(only) == 0 {
		only = tlsScenarios
	}
	rep := &ABReport{Rounds: cfg.Rounds, Figures: map[string]map[string][]float64{"old": {}, "new": {}}}
	for round := range cfg.Rounds {
		for _, sc := range only {
			sides := []string{"old", "new"}
			if round%2 == 1 {
				slices.Reverse(sides)
			}
			for _, side := range sides {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				run := cfg.Base
				run.Only = []string{sc}
				run.RelayBin, run.RelayArgs = cfg.Old, append(slices.Clone(abArgs), cfg.Base.RelayArgs...)
				if side == "new" {
					run.RelayBin = cfg.New
				}
				r, err := Run(ctx, run)
				if err != nil {
					rep.Problems = append(rep.Problems, fmt.Sprintf("round %d %s %s: %v", round+1, sc, side, err))
				}
				if r == nil {
					continue
				}
				for _, p := range r.Problems {
					rep.Problems = append(rep.Problems, fmt.Sprintf("round %d %s relay: %s", round+1, side, p))
				}
				for name, v := range r.Figures {
					rep.Figures[side][name] = append(rep.Figures[side][name], v)
				}
			}
		}
	}
	return rep, nil
}

// PrintTable writes one line per figure: each relay's median and runs,
// the target, and whether the new relay's median meets it.
func (r *ABReport) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tOLD MEDIAN\tOLD RUNS\tNEW MEDIAN\tNEW RUNS\tTARGET\tNEW MEETS")
	var names []string
	for name := range r.Figures["new"] {
		if t, ok := abTargets[strings.TrimSuffix(name, " TLS")]; ok && t.met != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		t := abTargets[strings.TrimSuffix(name, " TLS")]
		old, nw := r.Figures["old"][name], r.Figures["new"][name]
		meets := "no"
		if len(nw) > 0 && t.met(median(nw)) {
			meets = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, fmtMedian(old), fmtRuns(old), fmtMedian(nw), fmtRuns(nw), t.target, meets)
	}
	tw.Flush()
	for _, p := range r.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
}

func fmtMedian(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	return fmtFig(median(v))
}

// fmtFig writes a figure with three significant digits, never in
// exponent form.
func fmtFig(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtRuns(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmtFig(x)
	}
	return strings.Join(parts, " ")
}
