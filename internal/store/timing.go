package store

import (
	"fmt"

	"switchboard/internal/wire"
)

// TimingRow is a run of one command's timing records as stored: one
// timing section (wire.AppendTimingSection) whose first record is numbered
// Seq. Rows of one command may overlap (an agent resends records a
// restarted relay had stored already); readers skip the numbers they have.
type TimingRow struct {
	CommandID string
	Seq       uint64
	Data      []byte
}

// End is the number after the row's last record.
func (r TimingRow) End() (uint64, error) {
	first, count, err := wire.TimingSpan(r.Data)
	if err != nil {
		return 0, fmt.Errorf("timing of %s at record %d: %w", r.CommandID, r.Seq, err)
	}
	if first != r.Seq {
		return 0, fmt.Errorf("timing of %s: row %d holds a section that begins at record %d", r.CommandID, r.Seq, first)
	}
	return first + count, nil
}

// From is the part of r from record seq on: r itself when it begins
// there, none when it ends before.
func (r TimingRow) From(seq uint64) (TimingRow, error) {
	if seq <= r.Seq {
		return r, nil
	}
	var recs []wire.TimingRecord
	if _, err := wire.ScanTiming(r.Data, func(rec wire.TimingRecord) bool {
		if rec.Seq >= seq {
			recs = append(recs, rec)
		}
		return true
	}); err != nil {
		return TimingRow{}, fmt.Errorf("timing of %s at record %d: %w", r.CommandID, r.Seq, err)
	}
	if len(recs) == 0 {
		return TimingRow{CommandID: r.CommandID, Seq: seq}, nil
	}
	return TimingRow{CommandID: r.CommandID, Seq: seq, Data: wire.AppendTimingSection(nil, recs)}, nil
}

// WriteTiming stores rows through a store's two statements: insert
// writes a row unless one is stored at its command and Seq (reporting
// whether it wrote it), and storedEnd reads the End of the one that is.
// A row cut longer than the one in its way keeps its tail as a row of its
// own, so records resent cut differently are all kept.
func WriteTiming(rows []TimingRow, insert func(r TimingRow, end uint64) (bool, error),
	storedEnd func(commandID string, seq uint64) (uint64, error)) error {
	for _, r := range rows {
		for len(r.Data) > 0 {
			end, err := r.End()
			if err != nil {
				return err
			}
			wrote, err := insert(r, end)
			if err != nil {
				return err
			}
			if wrote {
				break
			}
			have, err := storedEnd(r.CommandID, r.Seq)
			if err != nil {
				return fmt.Errorf("timing of %s at record %d: the row stored there: %w", r.CommandID, r.Seq, err)
			}
			if have <= r.Seq || have >= end {
				break
			}
			if r, err = r.From(have); err != nil {
				return err
			}
		}
	}
	return nil
}

// TimingPage is the most rows ReadTiming returns in one call.
const TimingPage = 256

// EachRecord calls fn for each record of rows (ReadTiming's, in order)
// numbered from on, each number once, until fn returns false. It returns
// the number after the last record it passed to fn.
func EachRecord(rows []TimingRow, from uint64, fn func(wire.TimingRecord) bool) (next uint64, err error) {
	next = from
	stop := false
	for _, row := range rows {
		if stop {
			break
		}
		_, err := wire.ScanTiming(row.Data, func(r wire.TimingRecord) bool {
			if r.Seq < next {
				return true
			}
			if !fn(r) {
				stop = true
				return false
			}
			next = r.Seq + 1
			return true
		})
		if err != nil {
			return next, fmt.Errorf("timing of %s at record %d: %w", row.CommandID, row.Seq, err)
		}
	}
	return next, nil
}
