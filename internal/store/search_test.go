package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"switchboard/internal/store"
)

func TestParseSearch(t *testing.T) {
	for q, want := range map[string][]store.SearchTerm{
		"panic:":                       {{Tokens: []string{"panic"}}},
		`  exit-code  "Ünï CODE" err*`: {{Tokens: []string{"exit", "code"}}, {Tokens: []string{"ünï", "code"}}, {Tokens: []string{"err"}, Prefix: true}},
		`"go test"*`:                   {{Tokens: []string{"go", "test"}, Prefix: true}},
	} {
		got, err := store.ParseSearch(q)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSearch(%q) = %+v, %v; want %+v", q, got, err, want)
		}
	}
	for q, why := range map[string]string{
		"":                       "empty",
		"   ":                    "empty",
		`"panic`:                 "not closed",
		`:::`:                    "no letters or digits",
		strings.Repeat("a ", 17): "17 terms",
		strings.Repeat("a", 513): "513 bytes",
		"\xff":                   "UTF-8",
	} {
		_, err := store.ParseSearch(q)
		if !errors.Is(err, store.ErrBadQuery) || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseSearch(%q) = %v, want a bad query error saying %q", q, err, why)
		}
	}
}

func TestIndexText(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[1;31mred\x1b[0m\r\n":                "red",
		"\x1b]8;;http://x\x1b\\link\x1b]8;;\x07":  "link",
		"\x1b(Bplain\tcol\x1bPdcs\x1b\\ \x1b=x\n": "plain col x",
		"10%\r50%\r100%\n":                        "10% 50% 100%",
		"bad \xff byte\x00\x08":                   "bad \uFFFD byte",
		"\x1b[":                                   "",
		"\x1b":                                    "",
		"\x1b[2K\r\n":                             "",
	} {
		if got := store.IndexText([]byte(in)); got != want {
			t.Errorf("IndexText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNextLines(t *testing.T) {
	data := []byte("one\r\n\r\ntwo\nthr")
	lines, off, n := store.NextLines(data, 100, 7, false)
	want := []store.IndexLine{{N: 7, Off: 100, Text: "one"}, {N: 8, Off: 107, Text: "two"}}
	if !reflect.DeepEqual(lines, want) || off != 111 || n != 9 {
		t.Fatalf("got %+v, %d, %d", lines, off, n)
	}
	lines, off, n = store.NextLines(data[11:], 111, 9, true)
	if !reflect.DeepEqual(lines, []store.IndexLine{{N: 9, Off: 111, Text: "thr"}}) || off != 114 || n != 10 {
		t.Fatalf("at the end: %+v, %d, %d", lines, off, n)
	}
	long := []byte(strings.Repeat("x", store.MaxIndexLine+10))
	lines, off, _ = store.NextLines(long, 0, 0, false)
	if len(lines) != 1 || len(lines[0].Text) != store.MaxIndexLine || off != store.MaxIndexLine {
		t.Fatalf("a long line is cut at MaxIndexLine: %d lines, off %d", len(lines), off)
	}
}
