package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/recording"
	"switchboard/internal/store"
	"switchboard/internal/wire"
)

// The asciicast export: GET /api/commands/{id}/asciicast serves a stored
// command's recording as an asciicast v2 file (internal/recording) to a
// browser signed in as a viewer or above, or to a client presenting a
// token (Authorization: Bearer sbt_…). It is built on the request's
// goroutine, reading the store a frame at a time, so memory stays bounded
// whatever the output's size; only the timing events are held whole.

// exportRead is how much output one store read of an export takes.
const exportRead = 256 << 10

// requestPrincipal is who an HTTP request acts as, from its bearer token
// or its browser session; on failure, the status to answer with.
func (r *Relay) requestPrincipal(req *http.Request) (principal, int, error) {
	p := principal{remote: remoteIP(req.RemoteAddr)}
	if r.cfg.NoAuth {
		p.token, p.role = "anonymous", store.RoleAdmin
		return p, 0, nil
	}
	now := time.Now()
	if wait, blocked := r.failures.Blocked(addrKey(req.RemoteAddr), now); blocked {
		return p, http.StatusTooManyRequests, fmt.Errorf("too many failed authentications from your address: try again in %s", wait.Round(time.Second))
	}
	var tok store.Token
	var err error
	bearer, hasBearer := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	c, cerr := req.Cookie(SessionCookie)
	switch {
	case hasBearer:
		tok, err = r.tokens.check(req.Context(), strings.TrimSpace(bearer), now)
	case cerr == nil:
		tok, err = r.sessionToken(req.Context(), c.Value, now, &p)
	default:
		return p, http.StatusUnauthorized, errors.New("sign in first, or send a token as Authorization: Bearer")
	}
	if err != nil {
		r.failures.Failed(addrKey(req.RemoteAddr), now)
		r.auditDenied(principal{remote: p.remote, token: tok.Name, role: tok.Role}, "auth_failure", "", err.Error())
		return p, http.StatusUnauthorized, err
	}
	p.token, p.role = tok.Name, tok.Role
	if !auth.Allows(p.role, auth.ActWatch) {
		return p, http.StatusForbidden, fmt.Errorf("a token with role %s may not read recordings", p.role)
	}
	return p, 0, nil
}

// handleAsciicast serves a command's recording as asciicast v2; with
// ?input=1, what was typed too (where the agent recorded it).
func (r *Relay) handleAsciicast(w http.ResponseWriter, req *http.Request) {
	who, status, err := r.requestPrincipal(req)
	if err != nil {
		httpError(w, status, err.Error())
		return
	}
	id := req.PathValue("id")
	ctx, cancel := context.WithTimeout(req.Context(), readTimeout)
	c, err := r.command(ctx, who, id)
	var events []wire.TimingEvent
	if err == nil {
		events, err = r.allTiming(ctx, id)
	}
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errHidden):
		httpError(w, http.StatusNotFound, fmt.Sprintf("no command %q", id))
		return
	case err != nil:
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-asciicast")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.cast"`, id))
	if err := r.writeAsciicast(req.Context(), w, c, events, req.URL.Query().Get("input") == "1"); err != nil {
		// The status is sent; the client sees a file cut short.
		r.log.Warn("asciicast export cut short", "command_id", id, "err", err)
	}
}

// allTiming reads every timing event of a command.
func (r *Relay) allTiming(ctx context.Context, id string) ([]wire.TimingEvent, error) {
	var all []wire.TimingEvent
	from := uint64(0)
	for {
		res, err := r.readTiming(ctx, id, from)
		if err != nil {
			return nil, err
		}
		all = append(all, res.Events...)
		if !res.More {
			return all, nil
		}
		from = uint64(res.Next)
	}
}

// writeAsciicast writes command c's recording, its output read from the
// store.
func (r *Relay) writeAsciicast(ctx context.Context, w http.ResponseWriter, c wire.Command, events []wire.TimingEvent, input bool) error {
	tl := recording.TimelineOf(c, events)
	aw, err := recording.NewWriter(w, recording.HeaderOf(c, tl), tl, input)
	if err != nil {
		return err
	}
	for off := int64(0); ; {
		data, start, err := r.store.ReadOutput(ctx, c.ID, off, exportRead)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		if err := aw.Output(start, data); err != nil {
			return err
		}
		off = start + int64(len(data))
	}
	return aw.Close()
}
