// Package web holds the browser dashboard as the relay serves it: the
// page's own sources (src/) and the third-party modules it loads
// (vendor/: xterm.js and its fit addon, copied from node_modules by
// `make web`, pinned by package-lock.json, and committed). Both are
// embedded as they are, so a relay built with go build or go install
// serves the whole page without Node; internal/web serves them.
package web

import "embed"

// Files holds src/ and vendor/.
//
//go:embed src vendor
var Files embed.FS
