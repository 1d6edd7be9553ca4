package flagenv

import (
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func TestKeyValues(t *testing.T) {
	var kv KeyValues
	if kv != nil {
		t.Fatal("unset KeyValues is not nil")
	}
	for _, v := range []string{"pool=ci", "env=a=b", "empty="} {
		if err := kv.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if want := (KeyValues{"pool": "ci", "env": "a=b", "empty": ""}); !maps.Equal(kv, want) {
		t.Errorf("got %v, want %v", kv, want)
	}
	for _, bad := range []string{"novalue", "=x"} {
		if err := kv.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "64M": 64 << 20, "2k": 2 << 10, "1GiB": 1 << 30, " 3 MB ": 3 << 20} {
		var b ByteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1M", "x", "9999999999G"} {
		var b ByteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if b := ByteSize(64 << 20); b.String() != "64M" {
		t.Errorf("String() = %q, want 64M", b.String())
	}
}

func TestLoadToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(" sbt_x \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := LoadToken("", file); err != nil || tok != "sbt_x" {
		t.Errorf("from a file: %q, %v", tok, err)
	}
	if tok, err := LoadToken("direct", ""); err != nil || tok != "direct" {
		t.Errorf("direct: %q, %v", tok, err)
	}
	if _, err := LoadToken("a", file); err == nil {
		t.Error("both a token and a file accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := LoadToken("", empty); err == nil {
		t.Error("an empty token file accepted")
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", "", "")
	quiet := fs.Bool("quiet", false, "")
	pos, err := ParseInterleaved(fs, []string{"revoke", "--db", "f.db", "NAME", "-quiet", "more"})
	if err != nil || strings.Join(pos, " ") != "revoke NAME more" || *db != "f.db" || !*quiet {
		t.Fatalf("got %q, db %q, quiet %v, %v", pos, *db, *quiet, err)
	}
	if _, err := ParseInterleaved(fs, []string{"a", "--nope"}); err == nil {
		t.Fatal("an unknown flag after a positional argument was accepted")
	}
}
