package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// ansiWidth is the number of cells s takes on screen.
func ansiWidth(s string) int { return ansi.StringWidth(s) }

// padTo makes styled text exactly w cells wide: cut, or padded with spaces.
func padTo(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := ansiWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "")
	}
	return s + strings.Repeat(" ", w-n)
}

// truncate shortens plain text to w cells, marking the cut with "…".
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansiWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// fit is truncate then pad: plain text exactly w cells wide.
func fit(s string, w int) string { return padTo(truncate(s, w), w) }

// formatLabels renders labels as sorted key=value pairs.
func formatLabels(l map[string]string, sep string) string {
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, sep)
}

// ago says how long before now t was, coarsely.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return short(now.Sub(t)) + " ago"
}

// short renders a duration the way a person reads it: 4s, 2m05s, 3h10m.
func short(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// overlay places box (lines of equal width) centred over base (lines of
// width w), returning new lines.
func overlay(base []string, w int, box []string) []string {
	if len(box) == 0 {
		return base
	}
	bw := ansiWidth(box[0])
	x := max((w-bw)/2, 0)
	y := max((len(base)-len(box))/2, 0)
	out := slices.Clone(base)
	for i, b := range box {
		if y+i >= len(out) {
			break
		}
		line := out[y+i]
		left := ansi.Truncate(line, x, "")
		right := ansi.TruncateLeft(line, x+bw, "")
		out[y+i] = padTo(left, x) + b + right
	}
	return out
}
