package store_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"switchboard/internal/store"
)

func TestBlocksRoundTrip(t *testing.T) {
	var lines []store.IndexLine
	off := int64(1000)
	for i := range 21 {
		text := fmt.Sprintf("line %d", i)
		if i == 12 {
			text = strings.Repeat("x", 5000) // a long line ends its block
		}
		lines = append(lines, store.IndexLine{N: 40 + int64(i), Off: off, Text: text})
		off += int64(len(text)) + 2 + int64(i%3)*300 // blank lines skipped between some
	}
	blocks := store.Blocks(lines)
	var back []store.IndexLine
	for _, b := range blocks {
		ls, err := b.Lines()
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) > store.MaxBlockLines || ls[0].N != b.N || ls[0].Off != b.Off {
			t.Fatalf("block %+v reads back as %+v", b, ls)
		}
		back = append(back, ls...)
	}
	if !reflect.DeepEqual(back, lines) {
		t.Fatalf("lines read back from %d blocks differ:\n%+v\nwant\n%+v", len(blocks), back, lines)
	}
	// 8 lines, then 5 ending with the long one (a block takes no more
	// lines once its text is 4 KiB), then the rest.
	var sizes []int
	for _, b := range blocks {
		sizes = append(sizes, strings.Count(b.Text, "\n")+1)
	}
	if want := []int{8, 5, 8}; !reflect.DeepEqual(sizes, want) {
		t.Fatalf("block sizes %v, want %v", sizes, want)
	}
	if got := store.LinesFrom(lines, 45); len(got) != 16 || got[0].N != 45 {
		t.Fatalf("LinesFrom 45: %d lines from %d", len(got), got[0].N)
	}
}

func TestBlockDamaged(t *testing.T) {
	for _, b := range []store.IndexBlock{
		{Text: "a\nb", Offs: nil},                                     // an offset missing
		{Text: strings.Repeat("a\n", 8) + "a", Offs: make([]byte, 8)}, // 9 lines
	} {
		if _, err := b.Lines(); err == nil {
			t.Errorf("block %+v read back without an error", b)
		}
	}
}

func TestHitCursor(t *testing.T) {
	for _, c := range []struct {
		row int64
		i   int
	}{{1, 0}, {1, 7}, {2, 0}, {1 << 40, 5}} {
		cur := store.HitCursor(c.row, c.i)
		if row, i := store.SplitCursor(cur); row != c.row || i != c.i {
			t.Errorf("HitCursor(%d, %d) = %d splits into %d, %d", c.row, c.i, cur, row, i)
		}
	}
	if store.HitCursor(1, 7) >= store.HitCursor(2, 0) || store.HitCursor(2, 0) <= 0 {
		t.Fatal("cursors are not in index order")
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		line, query string
		want        bool
	}{
		{"panic: runtime error", "panic:", true},
		{"panic: runtime error", "runtime panic", true},
		{"panic: runtime error", `"runtime error"`, true},
		{"panic: runtime error", `"error runtime"`, false},
		{"panic: runtime error", `"panic runt"*`, true},
		{"panic: runtime error", `"panic runt"`, false},
		{"panic: runtime error", "compil*", false},
		{"Compiling main.go", "compil*", true},
		{"Compiling main.go", "COMPILING main-go", true},
		{"exit code 2", "exit-code", true},
		{"Compiling main.go", "pil", false}, // inside a word: no token
		{"Compiling main.go", "pil*", false},
		{"RÉSUMÉ ok", "résumé", true},
		{"exit", `"exit code"`, false},
		{"Ünï CODE", `"ünï code"`, true},
	} {
		terms, err := store.ParseSearch(c.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := store.Matches(c.line, terms); got != c.want {
			t.Errorf("Matches(%q, %s) = %v, want %v", c.line, c.query, got, c.want)
		}
	}
}
