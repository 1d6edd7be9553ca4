package hub

import (
	"context"
	"fmt"
	"sync"
	"time"

	"switchboard/internal/wire"
)

// Refusals are audited without letting a flood of them grow the database:
// the first refusal of a kind (the same action, token, address, subject
// and reason) in a minute is written as it happens, the others are counted
// and written as one row when the minute ends. At most maxDeniedKinds kinds get rows of their
// own each minute; refusals of any other kind are summed in one row.
const (
	deniedWindow   = time.Minute
	maxDeniedKinds = 100
)

// deniedLog counts the refusals of the current minute.
type deniedLog struct {
	mu     sync.Mutex
	counts map[deniedKind]*deniedCount
	other  deniedCount // refusals past maxDeniedKinds kinds
}

type deniedKind struct{ action, token, remote, subject, detail string }

type deniedCount struct {
	n    int             // refusals not yet written
	last wire.AuditEntry // the last of them
}

func newDeniedLog() *deniedLog {
	return &deniedLog{counts: make(map[deniedKind]*deniedCount)}
}

// record counts e and reports whether it is to be written now.
func (l *deniedLog) record(e wire.AuditEntry) bool {
	k := deniedKind{e.Action, e.Token, e.Remote, e.Subject, e.Detail}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.counts[k]; c != nil {
		c.n, c.last = c.n+1, e
		return false
	}
	if len(l.counts) >= maxDeniedKinds {
		l.other.n, l.other.last = l.other.n+1, e
		return false
	}
	l.counts[k] = &deniedCount{}
	return true
}

// flush returns the summary rows of the minute that ended at now and
// starts the next.
func (l *deniedLog) flush(now time.Time) []wire.AuditEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rows []wire.AuditEntry
	for _, c := range l.counts {
		if c.n > 0 {
			e := c.last
			e.At, e.Detail = now, fmt.Sprintf("%d more like this in the last minute; the last: %s", c.n, e.Detail)
			rows = append(rows, e)
		}
	}
	if l.other.n > 0 {
		e := l.other.last
		e.At, e.Token, e.Role, e.Remote, e.Subject = now, "", "", "", ""
		e.Detail = fmt.Sprintf("%d more refusals in the last minute, of kinds past the %d audited one by one; the last: %s",
			l.other.n, maxDeniedKinds, l.other.last.Detail)
		rows = append(rows, e)
	}
	clear(l.counts)
	l.other = deniedCount{}
	return rows
}

// Audit records one entry of the audit trail.
func (h *Local) Audit(who Actor, action, subject, result, detail string) {
	h.persist.addAudit(wire.AuditEntry{At: time.Now().UTC(), Token: who.Token, Role: who.Role, Remote: who.Remote,
		Action: action, Subject: subject, Result: result, Detail: detail})
}

// AuditDenied records a refusal in the audit trail, within the bounds above.
func (h *Local) AuditDenied(who Actor, action, subject, detail string) {
	e := wire.AuditEntry{At: time.Now().UTC(), Token: who.Token, Role: who.Role, Remote: who.Remote,
		Action: action, Subject: subject, Result: "denied", Detail: detail}
	if h.denied.record(e) {
		h.persist.addAudit(e)
	}
}

// flushDenied writes the counted refusals once a minute until ctx ends.
func (h *Local) flushDenied(ctx context.Context) {
	t := time.NewTicker(deniedWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.writeDenied(time.Now())
			return
		case now := <-t.C:
			h.writeDenied(now)
		}
	}
}

func (h *Local) writeDenied(now time.Time) {
	for _, e := range h.denied.flush(now.UTC()) {
		h.persist.addAudit(e)
	}
}
