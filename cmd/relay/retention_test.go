package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"switchboard/internal/hub"
)

func TestRetentionFlags(t *testing.T) {
	tests := []struct {
		args []string
		want hub.Retention
		err  string
	}{
		{args: nil},
		{args: []string{"--retain", "720h"}, want: hub.Retention{Retain: 720 * time.Hour}},
		{args: []string{"--max-db-size", "10G", "--retention-every", "30s"}, want: hub.Retention{MaxSize: 10 << 30, Every: 30 * time.Second}},
		{args: []string{"--max-db-size", "512MiB"}, want: hub.Retention{MaxSize: 512 << 20}},
		{args: []string{"--max-db-size", "0"}, err: "not a positive number"},
		{args: []string{"--max-db-size", "lots"}, err: "not a positive number"},
		{args: []string{"--retain", "-1h"}, err: "want positive durations"},
		{args: []string{"--retention-every", "-1s"}, err: "want positive durations"},
		{args: []string{"--index-busy-share", "1"}},
		{args: []string{"--index-busy-share", "0.25"}},
		{args: []string{"--index-busy-share", "0"}, err: "want a share over 0 and at most 1"},
		{args: []string{"--index-busy-share", "1.5"}, err: "want a share over 0 and at most 1"},
		{args: []string{"--index-busy-share", "NaN"}, err: "want a share over 0 and at most 1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("relay", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			r := defineRetentionFlags(fs)
			err := fs.Parse(tt.args)
			var got hub.Retention
			if err == nil {
				got, err = r.config()
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
