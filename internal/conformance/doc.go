// Package conformance holds the tests that keep docs/protocol.md and the
// relay in agreement: every JSON example on the page decodes into the
// message or type it shows, with no field the code lacks; the message
// and error tables name what internal/wire defines; and the page's
// transcript of a session is played against a real relay, message by
// message, by two raw WebSocket peers that know only what the page says.
package conformance
