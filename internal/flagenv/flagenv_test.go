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
