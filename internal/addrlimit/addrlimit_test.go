package addrlimit

import (
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:2222":            "192.0.2.7",
		"192.0.2.7":                 "192.0.2.7",
		"[2001:db8:1:2:3::4]:22":    "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:999": "2001:db8:1:2::/64",
		"pipe":                      "pipe",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGate(t *testing.T) {
	g := NewGate(2, 3)
	for _, a := range []string{"a", "a", "b"} {
		if err := g.Enter(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Enter("a"); err == nil {
		t.Error("a third connection from one address was admitted")
	}
	if err := g.Enter("c"); err == nil {
		t.Error("a fourth connection in all was admitted")
	}
	g.Leave("a")
	if err := g.Enter("c"); err != nil {
		t.Errorf("after one left: %v", err)
	}
	if err := g.Enter("a"); err == nil {
		t.Error("over the total after one left and another came")
	}
}

func TestFailures(t *testing.T) {
	f := NewFailures(6) // one a 10 s
	now := time.Now()
	for range 6 {
		if _, blocked := f.Blocked("a", now); blocked {
			t.Fatal("blocked before the budget was spent")
		}
		f.Failed("a", now)
	}
	wait, blocked := f.Blocked("a", now)
	if !blocked || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("after 6 failures: blocked %v for %s", blocked, wait)
	}
	if _, blocked := f.Blocked("b", now); blocked {
		t.Error("another address is blocked too")
	}
	if _, blocked := f.Blocked("a", now.Add(10*time.Second)); blocked {
		t.Error("still blocked once a failure's worth refilled")
	}
}
