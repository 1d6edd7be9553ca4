package migrate

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadSortsByVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0010_c.sql": {Data: []byte("C")},
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
		"migrations/README":     {Data: []byte("not a migration")},
	}
	ms, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "0001_a.sql", "A"}, {2, "0002_b.sql", "B"}, {10, "0010_c.sql", "C"}}
	if !reflect.DeepEqual(ms, want) {
		t.Fatalf("got %+v, want %+v", ms, want)
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"no number":      {"migrations/init.sql": {}},
		"zero":           {"migrations/0000_init.sql": {}},
		"negative":       {"migrations/-1_init.sql": {}},
		"shared version": {"migrations/0001_a.sql": {}, "migrations/01_b.sql": {}},
	}
	for name, fsys := range tests {
		t.Run(name, func(t *testing.T) {
			if ms, err := Load(fsys); err == nil {
				t.Fatalf("loaded %+v, want an error", ms)
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	tests := []struct {
		name string
		done map[int]bool
		want []int
	}{
		{"fresh database", nil, []int{1, 2, 3}},
		{"part migrated", map[int]bool{1: true}, []int{2, 3}},
		{"up to date", map[int]bool{1: true, 2: true, 3: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			todo, err := Pending(tt.done, ms)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range todo {
				got = append(got, m.Version)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("pending %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPendingRefusesNewerSchema(t *testing.T) {
	_, err := Pending(map[int]bool{1: true, 9999: true}, []Migration{{Version: 1}})
	if err == nil || !strings.Contains(err.Error(), "schema version 9999") {
		t.Fatalf("err = %v, want a refusal naming version 9999", err)
	}
}
