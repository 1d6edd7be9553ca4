// Package e2e holds end-to-end tests that build the real relay, agent and
// tui binaries and drive them as a user would: separate processes, real
// signals (kill -9 included), real sockets and a real SQLite file.
package e2e
