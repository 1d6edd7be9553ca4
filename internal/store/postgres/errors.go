package postgres

import (
	"errors"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes (PostgreSQL's Appendix A) that errors are told apart by.
const (
	codeUniqueViolation     = "23505"
	codeInvalidCatalogName  = "3D000" // no such database
	codeInvalidSchemaName   = "3F000"
	codeInvalidPassword     = "28P01"
	codeInvalidAuthSpec     = "28000" // e.g. no pg_hba.conf entry
	codeDiskFull            = "53100"
	codeReadOnlyTransaction = "25006"
	codeAdminShutdown       = "57P01" // pg_terminate_backend, or a server shutting down
	codeCannotConnectNow    = "57P03" // starting up or shutting down
)

// hint says what an operator can do about err, where the driver's message
// alone leaves it to guess; "" when it has nothing to add.
func hint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeInvalidCatalogName:
			return " (create the database first, e.g. createdb NAME)"
		case codeInvalidPassword, codeInvalidAuthSpec:
			return " (check the user and password in the URL, and the server's pg_hba.conf)"
		case codeDiskFull:
			return " (the database server is out of space; the relay keeps retrying)"
		case codeReadOnlyTransaction:
			return " (the server is read-only: is the URL a standby's?)"
		case codeAdminShutdown, codeCannotConnectNow:
			return " (the server is restarting or ended the connection; the relay retries on a new one)"
		case codeInvalidSchemaName:
			return " (the schema in search_path does not exist: create it first)"
		}
		return ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return " (is PostgreSQL running and listening at that address?)"
	}
	return ""
}

// isUniqueViolation reports whether err is a duplicate key.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeUniqueViolation
}

// clean returns s as PostgreSQL text can hold it: each NUL byte and each
// byte of invalid UTF-8, which it refuses, becomes U+FFFD (as in a Go
// range over the string, and as encoding/json writes it). Any other string
// is returned as it is, without a copy.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == 0 {
			return utf8.RuneError
		}
		return r // an invalid byte arrives here as utf8.RuneError
	}, s)
}

// cleanArgs cleans the strings among args, in place.
func cleanArgs(args []any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clean(s)
		}
	}
	return args
}
