package sqlrow

import (
	"reflect"
	"testing"

	"switchboard/internal/store"
)

func TestEngineTerms(t *testing.T) {
	word, rare, common := store.SearchTerm{Tokens: []string{"panic"}}, store.SearchTerm{Tokens: []string{"pan"}, Prefix: true},
		store.SearchTerm{Tokens: []string{"w"}, Prefix: true}
	for _, c := range []struct {
		terms []store.SearchTerm
		held  []int
		want  []store.SearchTerm
	}{
		{[]store.SearchTerm{word, common}, []int{0, 900}, []store.SearchTerm{word}},   // the common prefix is left to the line check
		{[]store.SearchTerm{word, rare}, []int{0, 3}, []store.SearchTerm{word, rare}}, // a rare one is the engine's
		{[]store.SearchTerm{common}, []int{900}, []store.SearchTerm{common}},          // never none
		{[]store.SearchTerm{rare, common}, []int{50, 51}, []store.SearchTerm{rare}},   // 5 % of 1,000 is not more than 5 %
	} {
		if got := engineTerms(c.terms, c.held, 1000); !reflect.DeepEqual(got, c.want) {
			t.Errorf("engineTerms(%v, %v) = %v, want %v", c.terms, c.held, got, c.want)
		}
	}
}
