package tui

import (
	"fmt"
	"strings"

	"switchboard/internal/safetext"
)

// replayKeysHint lists the replay view's keys.
const replayKeysHint = "space play/pause · +/- speed · ←/→ 10s · i idle limit · / find, n/N · g/G start/end · esc closes"

// View renders the view: a title line, the recording's screen, and the
// position with a progress bar (or the query being typed), each line
// exactly v.w cells wide.
func (v *replayView) View() []string {
	st := v.c.st
	w, h := max(v.w, 1), max(v.h, 3)
	title := st.header.Render(truncate(" replay · "+safetext.Escape(v.cmd.AgentName)+" · "+
		safetext.Escape(v.cmd.CommandSpec.Line())+" ", w))
	lines := []string{padTo(title+st.faint.Render(truncate(" "+replayKeysHint, max(w-ansiWidth(title), 0))), w)}
	body := h - 2
	switch {
	case v.err != nil:
		lines = append(lines, st.bad.Render(fit(" cannot replay: "+safetext.Escape(v.err.Error()), w)))
	case !v.ready():
		lines = append(lines, st.faint.Render(fit(fmt.Sprintf(" loading the recording… %s of %s", byteSize(int64(len(v.out))),
			byteSize(v.cmd.OutputBytes)), w)))
	default:
		screen, top := v.t.view(w, body, 0)
		if f := v.find; !f.typing && len(f.hits) > 0 {
			markMatches(v.t, screen, w, f.query, findMatch{line: -1}, func(i int) int { return v.t.maxScroll() + top + i })
		}
		lines = append(lines, screen...)
	}
	for len(lines) < h-1 {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return append(lines[:h-1], v.statusLine(w))
}

// statusLine is the position, speed, idle limit and matches, then a
// progress bar; or the query being typed.
func (v *replayView) statusLine(w int) string {
	st := v.c.st
	if v.find.typing {
		return padTo(st.barPrompt.Render(" find: ")+safetext.Escape(v.find.query)+"▏", w)
	}
	if !v.ready() {
		return strings.Repeat(" ", w)
	}
	state := "▶"
	switch {
	case v.atEnd():
		state = "■ end"
	case !v.clock.Playing():
		state = "⏸ paused"
	}
	info := fmt.Sprintf(" %s %s / %s · %gx", state, fmtClock(v.p.Position()), fmtClock(v.p.Duration()), replaySpeeds[v.speed])
	if d := replayIdles[v.idle]; d > 0 {
		info += " · idle ≤ " + d.String()
	}
	if f := v.find; f.query != "" && !f.typing {
		switch {
		case len(f.hits) == 0:
			info += fmt.Sprintf(" · %q: no match", f.query)
		case f.at >= 0:
			info += fmt.Sprintf(" · %q %d/%d", f.query, f.at+1, len(f.hits))
		default:
			info += fmt.Sprintf(" · %q %d matches", f.query, len(f.hits))
		}
	}
	info = truncate(safetext.Escape(info)+" ", w)
	return padTo(info+progressBar(st, v.p.Position().Seconds(), v.p.Duration().Seconds(), w-ansiWidth(info)-1), w)
}

// progressBar draws done of total as a bar n cells wide.
func progressBar(st styles, done, total float64, n int) string {
	if n <= 0 {
		return ""
	}
	filled := n
	if total > 0 {
		filled = min(int(float64(n)*done/total), n)
	}
	return st.info.Render(strings.Repeat("━", filled)) + st.faint.Render(strings.Repeat("─", n-filled))
}
