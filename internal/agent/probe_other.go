//go:build !linux

package agent

import "os"

// ttyProbe is Linux only (it reads /proc); elsewhere a command is never
// found waiting by its process state, only by its hooks and terminal
// notifications.
type ttyProbe struct{}

func newTTYProbe(*os.File, int) *ttyProbe { return nil }

func (*ttyProbe) sample() probeVerdict { return probeBusy }

// unreadOutput is not known here; hooks' states are not held back.
func unreadOutput(*os.File) int { return 0 }
