// Package flagenv owns the command-line conventions the three programs
// share: every flag has an environment-variable equivalent (flags win),
// help lists both, and logging is configured the same way everywhere.
package flagenv

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Name is the environment variable for a flag: SWITCHBOARD_ plus the flag
// name in upper case with dashes as underscores (--lost-after becomes
// SWITCHBOARD_LOST_AFTER).
func Name(flagName string) string {
	return "SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply sets each flag of fs that has a value in the environment. Call it
// after defining the flags and before fs.Parse, so that flags override.
// A repeatable flag takes a comma-separated list; spaces around each item
// and empty items are ignored.
func Apply(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(Name(f.Name))
		if !ok || err != nil {
			return
		}
		values := []string{v}
		if _, repeatable := f.Value.(interface{ Repeatable() }); repeatable {
			values = values[:0]
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					values = append(values, item)
				}
			}
		}
		for _, v := range values {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", Name(f.Name), v, e)
				return
			}
		}
		if l, ok := f.Value.(*List); ok {
			l.replace = true // the command line's values replace these
		}
	})
	return err
}

// Strings is a repeatable string flag.
type Strings []string

func (s *Strings) String() string     { return strings.Join(*s, ",") }
func (s *Strings) Set(v string) error { *s = append(*s, v); return nil }

// Repeatable marks Strings for Apply.
func (s *Strings) Repeatable() {}

// List is a repeatable flag whose values may also be separated by commas
// (--relay ws://a --relay ws://b, or --relay ws://a,ws://b). Unlike
// Strings, the values given replace its default, and values on the command
// line replace those from the environment: a list names all there are,
// as --relay does, rather than adding to them.
type List struct {
	values  []string
	replace bool // the next Set starts the list again: values are a default's or the environment's
}

// NewList returns a List holding defaults until it is set.
func NewList(defaults ...string) *List {
	return &List{values: defaults, replace: true}
}

// Set adds the comma-separated items of v; spaces around each item and
// empty items are ignored, but v must hold at least one.
func (l *List) Set(v string) error {
	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return fmt.Errorf("%q holds no value", v)
	}
	if l.replace {
		l.values, l.replace = nil, false
	}
	l.values = append(l.values, items...)
	return nil
}

func (l *List) String() string { return strings.Join(l.values, ",") }

// Values returns the list.
func (l *List) Values() []string { return append([]string(nil), l.values...) }

// Repeatable marks List for Apply.
func (l *List) Repeatable() {}

// Usage returns a flag.Usage func printing the summary, then every flag
// with its environment variable.
func Usage(fs *flag.FlagSet, summary string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintln(out, strings.TrimSpace(summary))
		fmt.Fprintln(out, "\nFlags (each also read from the environment variable shown):")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\n    \t%s", f.Name, name, usage)
			if f.DefValue != "" && f.DefValue != "[]" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, "\n    \t[%s]\n", Name(f.Name))
		})
	}
}

// Logger returns a slog logger writing to w at level ("debug", "info",
// "warn", "error") in format ("text" or "json").
func Logger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
}

// ParseInterleaved parses fs's flags wherever they stand among args and
// returns the other arguments in order: `relay token revoke NAME --db DB`
// reads --db, `agent notify waiting --relay URL` reads --relay.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}
