package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestStoreFlags(t *testing.T) {
	tests := []struct {
		args     []string
		postgres string
		path     string
		err      string
	}{
		{args: nil, path: defaultDB},
		{args: []string{"--db", "x/y.db"}, path: "x/y.db"},
		{args: []string{"--store", "x/y.db"}, path: "x/y.db"},
		{args: []string{"--store", "sqlite:x/y.db"}, path: "x/y.db"},
		{args: []string{"--store", "postgres://u@h:5432/db?sslmode=disable"}, postgres: "postgres://u@h:5432/db?sslmode=disable"},
		{args: []string{"--store", "postgresql://u@h/db"}, postgres: "postgresql://u@h/db"},
		{args: []string{"--store", "x.db", "--db", "y.db"}, err: "not both"},
		{args: []string{"--store", "mysql://u:secret@h/db"}, err: "want postgres://"},
		{args: []string{"--store", "sqlite:"}, err: "path is empty"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("relay", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			spec := storeFlags(fs, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := spec()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("err = %v, want one saying %q and no password", err, tt.err)
				}
				return
			}
			if err != nil || got.postgres != tt.postgres || got.path != tt.path {
				t.Fatalf("got %+v (%v), want postgres %q, path %q", got, err, tt.postgres, tt.path)
			}
		})
	}
}

func TestStoreSpecHidesPassword(t *testing.T) {
	s := storeSpec{postgres: "postgres://relay:hunter2@db.example.com/sb"}
	if strings.Contains(s.String(), "hunter2") {
		t.Fatalf("%s shows the password", s)
	}
}

// TestStandbyNotInACluster: --standby waits for a store's serving lock,
// which relays of a cluster do not take: the two are refused together,
// before anything is opened.
func TestStandbyNotInACluster(t *testing.T) {
	err := run([]string{"--standby", "--cluster", "nats://127.0.0.1:1", "--relay-id", "r1",
		"--store", "postgres://u@127.0.0.1:1/db", "--insecure-no-auth", "--log-level", "error"})
	if err == nil || !strings.Contains(err.Error(), "--standby is for a relay outside a cluster") {
		t.Fatalf("--standby with --cluster: %v", err)
	}
}
