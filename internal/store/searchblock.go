package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The index stores a command's lines in blocks of up to MaxBlockLines
// consecutive lines, one row each: most of what a full-text index costs
// to write is per row (FTS5's and the GIN index's bookkeeping, the table
// and key inserts), so a block of 8 short lines costs about what one line
// did. A block's text is its lines joined by "\n" (IndexText leaves none
// inside a line). The text engine finds the blocks that hold every term
// somewhere; Matches then keeps the lines that hold them all themselves,
// so a query still matches lines, and the engine's false candidates (terms
// on different lines of a block) cost only the reading of that block.
const (
	MaxBlockLines = 8
	// maxBlockText bounds a block's text: a line starts a new block once
	// the text before it is this long (a single line may be longer, up to
	// what IndexText makes of MaxIndexLine bytes). It keeps a block's
	// words under PostgreSQL's tsvector position limit (16,383).
	maxBlockText = 4 << 10
)

// IndexBlock is a row of the index: consecutive lines of one command, the
// first numbered N at offset Off, the others' offsets in Offs (each line's
// distance from the one before, as uvarints), their texts joined by "\n".
type IndexBlock struct {
	N    int64
	Off  int64
	Offs []byte
	Text string
}

// Blocks groups consecutively numbered lines (as NextLines makes them)
// into the index's rows.
func Blocks(lines []IndexLine) []IndexBlock {
	var out []IndexBlock
	var text strings.Builder
	for i := 0; i < len(lines); {
		b := IndexBlock{N: lines[i].N, Off: lines[i].Off, Offs: make([]byte, 0, 2*(MaxBlockLines-1))}
		text.Reset()
		text.WriteString(lines[i].Text)
		j := i + 1
		for ; j < len(lines) && j-i < MaxBlockLines && text.Len() < maxBlockText; j++ {
			b.Offs = binary.AppendUvarint(b.Offs, uint64(lines[j].Off-lines[j-1].Off))
			text.WriteByte('\n')
			text.WriteString(lines[j].Text)
		}
		b.Text = text.String()
		out = append(out, b)
		i = j
	}
	return out
}

// LinesFrom is the lines numbered n or more: what an update adds to a
// command indexed up to line n (a relay's indexer may be behind another's).
func LinesFrom(lines []IndexLine, n int64) []IndexLine {
	i := 0
	for i < len(lines) && lines[i].N < n {
		i++
	}
	return lines[i:]
}

// errBadBlock is wrapped by errors about a stored block that does not
// read back as Blocks wrote it.
var errBadBlock = errors.New("index block is damaged")

// Lines are the block's lines, numbered and placed as they were indexed.
func (b IndexBlock) Lines() ([]IndexLine, error) {
	texts := strings.Split(b.Text, "\n")
	if len(texts) > MaxBlockLines {
		return nil, fmt.Errorf("%w: %d lines, at most %d", errBadBlock, len(texts), MaxBlockLines)
	}
	lines := make([]IndexLine, len(texts))
	off, offs := b.Off, b.Offs
	for i, t := range texts {
		if i > 0 {
			d, n := binary.Uvarint(offs)
			if n <= 0 {
				return nil, fmt.Errorf("%w: %d offsets for %d lines", errBadBlock, i-1, len(texts))
			}
			off, offs = off+int64(d), offs[n:]
		}
		lines[i] = IndexLine{N: b.N + int64(i), Off: off, Text: t}
	}
	return lines, nil
}

// HitCursor is a hit's place in index order, the SearchHit.Cursor of line
// i of the block stored as row id: later rows and later lines of a row are
// greater.
func HitCursor(row int64, i int) int64 { return row*MaxBlockLines + int64(i) }

// SplitCursor undoes HitCursor.
func SplitCursor(c int64) (row int64, i int) { return c / MaxBlockLines, int(c % MaxBlockLines) }

// Matches reports whether a line holds every term: each term's tokens
// consecutive among the line's Tokens, the last only beginning one when
// the term is a prefix. It is the definition of a match; the stores' text
// engines only narrow down where to look.
func Matches(line string, terms []SearchTerm) bool { return CountHeld(line, terms, nil) }

// CountHeld is Matches that also counts, in held[i], a line that holds
// terms[i] whether or not it holds the others; with held nil it stops at
// the first term the line does not hold.
func CountHeld(line string, terms []SearchTerm, held []int) bool {
	lower := strings.ToLower(line)
	var toks []string
	all := true
	for i, t := range terms {
		ok := strings.Contains(lower, t.Tokens[0]) // without it, no need to cut the line into tokens
		if ok {
			if toks == nil {
				toks = lowerTokens(lower)
			}
			ok = holds(toks, t)
		}
		switch {
		case ok && held != nil:
			held[i]++
		case !ok && held == nil:
			return false
		case !ok:
			all = false
		}
	}
	return all
}

func holds(toks []string, t SearchTerm) bool {
	k := len(t.Tokens)
	for i := 0; i+k <= len(toks); i++ {
		last := i + k - 1
		if !slices.Equal(toks[i:last], t.Tokens[:k-1]) {
			continue
		}
		if toks[last] == t.Tokens[k-1] || t.Prefix && strings.HasPrefix(toks[last], t.Tokens[k-1]) {
			return true
		}
	}
	return false
}
