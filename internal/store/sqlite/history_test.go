package sqlite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/wire"
)

func TestHistory(t *testing.T) {
	db := openTest(t)
	var all []wire.Command
	for i := range 1100 {
		c := fullCommand(fmt.Sprintf("c-%04d", i))
		c.AgentID = fmt.Sprintf("a-%d", i%3)
		c.CreatedAt = t0.Add(time.Duration(i/2) * time.Millisecond) // pairs tie
		all = append(all, c)
	}
	apply(t, db, store.Batch{Commands: all})
	all = newestFirst(all)
	ofAgent := slices.DeleteFunc(slices.Clone(all), func(c wire.Command) bool { return c.AgentID != "a-1" })

	tests := []struct {
		name string
		q    store.HistoryQuery
		want []wire.Command
	}{
		{"default limit", store.HistoryQuery{}, all[:50]},
		{"negative limit", store.HistoryQuery{Limit: -1}, all[:50]},
		{"limit", store.HistoryQuery{Limit: 3}, all[:3]},
		{"limit capped", store.HistoryQuery{Limit: 5000}, all[:1000]},
		{"one agent", store.HistoryQuery{AgentID: "a-1", Limit: 1000}, ofAgent},
		{"agent without commands", store.HistoryQuery{AgentID: "a-9"}, []wire.Command{}},
		{"one command", store.HistoryQuery{ID: "c-0007"}, []wire.Command{fullCommandAt(all, "c-0007")}},
		{"one command of its agent", store.HistoryQuery{ID: "c-0007", AgentID: "a-1"}, []wire.Command{fullCommandAt(all, "c-0007")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := history(t, db, tt.q); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %d: %v\nwant %d: %v", len(got), ids(got), len(tt.want), ids(tt.want))
			}
		})
	}
}

func fullCommandAt(cmds []wire.Command, id string) wire.Command {
	return cmds[slices.IndexFunc(cmds, func(c wire.Command) bool { return c.ID == id })]
}

func TestHistoryNotFound(t *testing.T) {
	db := openTest(t)
	apply(t, db, store.Batch{Commands: []wire.Command{fullCommand("c-1")}})
	for _, q := range []store.HistoryQuery{{ID: "c-2"}, {ID: "c-1", AgentID: "a-other"}} {
		if _, err := db.History(context.Background(), q); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("History(%+v) err = %v, want store.ErrNotFound", q, err)
		}
	}
}
