package wire

import "testing"

func TestCommandSpecLine(t *testing.T) {
	for _, tc := range []struct {
		spec CommandSpec
		want string
	}{
		{CommandSpec{Argv: []string{"echo", "a b", ""}}, `echo "a b" ""`},
		{CommandSpec{Argv: []string{"make", "test"}}, "make test"},
		{CommandSpec{Argv: []string{"sh", "-c", "echo $HOME"}}, `sh -c "echo $HOME"`},
		{CommandSpec{Shell: "make test | tee log"}, "make test | tee log"},
	} {
		if got := tc.spec.Line(); got != tc.want {
			t.Errorf("Line(%+v) = %s, want %s", tc.spec, got, tc.want)
		}
	}
}
