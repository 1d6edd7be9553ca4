package sqlrow

import (
	"errors"
	"fmt"
	"math"

	"switchboard/internal/store"
)

// How a search with a prefix term (word*) is planned. A text engine finds
// a prefix's matches by merging the lists of every word it covers before
// it can order them, which costs in proportion to how many lines hold the
// prefix (about 0.8 s for a prefix half of 10 million lines hold), while
// a common prefix is found at once by reading the newest blocks. So such
// a search first reads the newest scanBlocks blocks itself: a prefix
// common enough to be slow in the engine fills a page there; one too rare
// to is cheap for the engine, which then goes on below them. The scan
// also counts how many lines hold each term: a prefix held by more than
// commonPrefixShare of them is left out of what the engine is asked when
// another term is left (store.Matches still checks every line for it).
const (
	scanBlocks        = 512
	commonPrefixShare = 0.05
)

// SearchPage queries a page of candidate blocks (SearchColumns), newest
// first, with row ids up to upTo and as the query's filters allow: at most
// limit of those whose text the engine matches with terms, or, when terms
// is nil, those among the limit newest blocks (so that a filter that few
// blocks pass does not make it read them all); done releases the rows
// (before their Err is read).
type SearchPage func(terms []store.SearchTerm, upTo int64, limit int) (rows Rows, done func(), err error)

// SearchBlocks returns q's page of hits: the lines of the candidate
// blocks that match (store.Matches), newest first, reading pages of
// blocks until q.Limit lines match or no block is left. A page is as
// long as the hits wanted, doubling (to store.PageMax) while the text
// engine's candidates turn out not to match line by line.
func SearchBlocks(q store.SearchQuery, page SearchPage) ([]store.SearchHit, error) {
	s := searcher{q: q, want: store.PageSize(q.Limit), upTo: math.MaxInt64, end: store.MaxBlockLines, hits: []store.SearchHit{}}
	if q.Before > 0 {
		s.upTo, s.end = store.SplitCursor(q.Before)
	}
	terms := q.Terms
	if hasPrefix(q.Terms) {
		s.held = make([]int, len(q.Terms))
		if _, err := s.page(page, nil, scanBlocks); err != nil {
			return nil, err
		}
		terms = engineTerms(q.Terms, s.held, s.lines)
		s.held = nil
	}
	for size := s.want; ; size = min(2*size, store.PageMax) {
		if more, err := s.page(page, terms, size); err != nil || !more {
			return s.hits, err
		}
	}
}

// searcher is one search's walk down the index.
type searcher struct {
	q    store.SearchQuery
	want int
	upTo int64 // the next page's blocks have row ids up to it
	end  int   // lines [0, end) of block upTo may be hits: an earlier page had the others
	hits []store.SearchHit

	held  []int // while scanning: how many lines held each term
	lines int   // while scanning: lines read
}

// page reads a page of at most size blocks and reports whether another
// may follow.
func (s *searcher) page(page SearchPage, terms []store.SearchTerm, size int) (bool, error) {
	if s.upTo <= 0 || len(s.hits) == s.want {
		return false, nil
	}
	rows, done, err := page(terms, s.upTo, size)
	if err != nil {
		return false, err
	}
	read, last, err := s.match(rows)
	done()
	if err = errors.Join(err, rows.Err()); err != nil {
		return false, err
	}
	if read > 0 {
		s.upTo, s.end = last-1, store.MaxBlockLines
	}
	return len(s.hits) < s.want && read == size && s.upTo > 0, nil
}

// match adds the matching lines of a page's blocks to the hits, up to
// want, and returns how many blocks it read and the last one's row id.
func (s *searcher) match(rows Rows) (int, int64, error) {
	read, last := 0, int64(0)
	for len(s.hits) < s.want && rows.Next() {
		id, h, b, err := scanBlockHit(rows)
		if err != nil {
			return read, last, err
		}
		read, last = read+1, id
		lines, err := b.Lines()
		if err != nil {
			return read, last, fmt.Errorf("command %s line %d: %w", h.CommandID, b.N, err)
		}
		if id == s.upTo {
			lines = lines[:min(s.end, len(lines))]
		}
		for i := len(lines) - 1; i >= 0 && len(s.hits) < s.want; i-- {
			if l := lines[i]; s.matches(l.Text) {
				h.Cursor, h.Line, h.Offset, h.Text = store.HitCursor(id, i), l.N, l.Off, l.Text
				s.hits = append(s.hits, h)
			}
		}
	}
	return read, last, nil
}

func (s *searcher) matches(line string) bool {
	if s.held == nil {
		return store.Matches(line, s.q.Terms)
	}
	s.lines++
	return store.CountHeld(line, s.q.Terms, s.held)
}

func hasPrefix(terms []store.SearchTerm) bool {
	for _, t := range terms {
		if t.Prefix {
			return true
		}
	}
	return false
}

// engineTerms are the terms the engine is asked for after a scan of lines
// lines, in which term i was held by held[i] of them: all but the prefix
// terms held by more than commonPrefixShare, unless that leaves none.
func engineTerms(terms []store.SearchTerm, held []int, lines int) []store.SearchTerm {
	var out []store.SearchTerm
	for i, t := range terms {
		if !t.Prefix || float64(held[i]) <= commonPrefixShare*float64(lines) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return terms
	}
	return out
}
