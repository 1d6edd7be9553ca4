package flagenv

import (
	"flag"
	"slices"
	"testing"
)

func TestApply(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var list Strings
	fs.Var(&list, "allow", "")
	lostAfter := fs.String("lost-after", "", "")
	t.Setenv("SWITCHBOARD_ALLOW", " make *, go test ./... ,,")
	t.Setenv("SWITCHBOARD_LOST_AFTER", " 2m")
	if err := Apply(fs); err != nil {
		t.Fatal(err)
	}
	if want := (Strings{"make *", "go test ./..."}); !slices.Equal(list, want) {
		t.Errorf("repeatable flag %q, want %q: items trimmed, empty ones skipped", list, want)
	}
	if *lostAfter != " 2m" {
		t.Errorf("plain flag %q, want the value as it is", *lostAfter)
	}
}

// TestList: a list's default gives way to the environment's values, which
// give way to the command line's; on either, values may be repeated or
// separated by commas.
func TestList(t *testing.T) {
	parse := func(env string, args ...string) ([]string, error) {
		t.Helper()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		relays := NewList("ws://default")
		fs.Var(relays, "relay", "")
		if env != "" {
			t.Setenv("SWITCHBOARD_RELAY", env)
		}
		if err := Apply(fs); err != nil {
			return nil, err
		}
		err := fs.Parse(args)
		return relays.Values(), err
	}
	for _, tc := range []struct {
		name, env string
		args      []string
		want      []string
	}{
		{"default", "", nil, []string{"ws://default"}},
		{"flags replace the default", "", []string{"--relay", "ws://a", "--relay", "ws://b"}, []string{"ws://a", "ws://b"}},
		{"commas", "", []string{"--relay", "ws://a, ws://b,"}, []string{"ws://a", "ws://b"}},
		{"environment replaces the default", "ws://e1,ws://e2", nil, []string{"ws://e1", "ws://e2"}},
		{"flags replace the environment", "ws://e1,ws://e2", []string{"--relay", "ws://a", "--relay", "ws://b,ws://c"}, []string{"ws://a", "ws://b", "ws://c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.env, tc.args...)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("%q (%v), want %q", got, err, tc.want)
			}
		})
	}
	if _, err := parse("", "--relay", " , "); err == nil {
		t.Fatal("a --relay with no value was taken")
	}
}
