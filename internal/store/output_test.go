package store

import (
	"bytes"
	"testing"
)

func TestSpanTrimsOverlap(t *testing.T) {
	// Chunks cut differently by two sends may overlap; the bytes at an
	// offset are the same either way, and each must come out once.
	feed := []struct {
		off, end int64
	}{{0, 10}, {5, 20}, {8, 12}, {20, 30}}
	s := NewSpan(3, 100)
	for _, c := range feed {
		if !s.Add(c.off, pattern(c.off, int(c.end-c.off))) {
			t.Fatalf("stopped at chunk %d", c.off)
		}
	}
	if data, start := s.Bytes(); start != 3 || !bytes.Equal(data, pattern(3, 27)) {
		t.Fatalf("got %d bytes at %d, want [3, 30)", len(data), start)
	}
}

func TestSpanStopsAtGapAndLimit(t *testing.T) {
	s := NewSpan(0, 100)
	if !s.Add(0, pattern(0, 10)) || s.Add(20, pattern(20, 10)) {
		t.Fatal("a chunk past a gap was taken")
	}
	if data, start := s.Bytes(); start != 0 || !bytes.Equal(data, pattern(0, 10)) {
		t.Fatalf("got %d bytes at %d, want [0, 10)", len(data), start)
	}
	s = NewSpan(5, 4)
	if s.Add(0, pattern(0, 10)) {
		t.Fatal("a full span asked for more")
	}
	if data, start := s.Bytes(); start != 5 || !bytes.Equal(data, pattern(5, 4)) {
		t.Fatalf("got %d bytes at %d, want [5, 9)", len(data), start)
	}
}

func pattern(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(off + int64(i))
	}
	return b
}
