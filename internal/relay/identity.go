package relay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/transport"
	"switchboard/internal/wire"
)

// Agent identity. With authentication, an agent token is bound to the
// agents it may register: to the agent named when the token was made
// (relay token create --agent), or else to the first ids and names it
// registers, up to Config.AgentsPerToken. No other token may connect with
// a bound id or name, and a refused claim leaves the connected agent
// alone; the same token may replace its own earlier connection (a
// restarted agent). Bindings live in the store, beside the tokens, and
// end with their token's revocation or with `relay agent forget`.
//
// Whatever the token, an agent's declaration is bounded (labels, their
// sizes, sessions), so that no agent can make every dashboard's snapshot,
// or the relay's memory, as large as it likes.

// errForbidden marks a claim the token may not make (close 4403); the
// refusals that match it say why.
var errForbidden = errors.New("forbidden")

// refusal is a claim refused for a reason the agent is told.
type refusal struct{ msg string }

func (e *refusal) Error() string        { return e.msg }
func (e *refusal) Is(target error) bool { return target == errForbidden }

func forbidden(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// claimAgent checks that who may register as the agent in info, and
// stores the binding its first connection makes.
func (r *Relay) claimAgent(who principal, info *wire.AgentInfo) error {
	if r.cfg.NoAuth {
		return nil
	}
	b, record, err := r.tokens.claim(who.token, info.ID, info.Name, r.cfg.AgentsPerToken, time.Now())
	if err != nil || !record {
		return err
	}
	if err := r.tokens.binds.BindAgent(r.ctx, b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return forbidden("agent %s (%s) is bound to another token", info.Name, info.ID)
		}
		return fmt.Errorf("record the agent's binding to its token: %w", err)
	}
	r.tokens.bound(b)
	return nil
}

// claim decides whether token may register the agent id and name: it
// returns the binding to store when the agent is new to the token (or
// its binding waits for an id), record false when it is bound already.
func (t *tokens) claim(token, id, name string, limit int, now time.Time) (b store.AgentBinding, record bool, err error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var mine []store.AgentBinding
	for _, b := range t.bindings {
		if tok, ok := t.byNameLocked(b.Token); !ok || !tok.Valid(now) {
			continue // its token is gone: the binding is free to take
		}
		switch {
		case b.Token == token:
			mine = append(mine, b)
		case b.AgentName == name:
			return b, false, forbidden("agent name %s is bound to another token", name)
		case b.AgentID != "" && b.AgentID == id:
			return b, false, forbidden("agent id %s is bound to another token", id)
		}
	}
	for _, b := range mine {
		switch {
		case b.AgentName == name && b.AgentID == id:
			return b, false, nil
		case b.AgentName == name && b.AgentID == "":
			b.AgentID, b.BoundAt = id, now.UTC()
			return b, true, nil
		case b.AgentName == name:
			return b, false, forbidden("token %s registers agent %s with id %s, not %s; to register it anew, forget the old one (relay agent forget %s)",
				token, name, b.AgentID, id, b.AgentID)
		case b.AgentID == id:
			return b, false, forbidden("token %s registers agent id %s as %s, not %s", token, id, b.AgentName, name)
		}
	}
	if len(mine) >= limit {
		names := make([]string, len(mine))
		for i, b := range mine {
			names[i] = b.AgentName
		}
		return store.AgentBinding{}, false, forbidden("token %s may register %d agent(s) (--agents-per-token) and is bound to %s",
			token, limit, strings.Join(names, ", "))
	}
	return store.AgentBinding{AgentName: name, AgentID: id, Token: token, BoundAt: now.UTC()}, true, nil
}

// refuseAgent closes an agent's connection whose claim failed: 4403 for a
// claim its token may not make, 1011 when the binding could not be stored.
func (r *Relay) refuseAgent(c *transport.Conn, err error) {
	code, closeCode, why := wire.CodeForbidden, wire.CloseForbidden, "forbidden"
	if !errors.Is(err, errForbidden) {
		code, closeCode, why = wire.CodeStorage, wire.CloseInternal, "storage"
	}
	c.SetWhy(why)
	c.SendError(code, err.Error(), "", "")
	c.Close(closeCode, err.Error())
}

// bound records a binding just stored, ahead of the next reload.
func (t *tokens) bound(b store.AgentBinding) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.bindings {
		if t.bindings[i].AgentName == b.AgentName {
			t.bindings[i] = b
			return
		}
	}
	t.bindings = append(t.bindings, b)
}

// checkDeclaration refuses an agent's registration beyond the limits on
// what an agent may declare.
func (r *Relay) checkDeclaration(a *wire.AgentInfo) error {
	if err := validAgentInfo(a); err != nil {
		return err
	}
	if len(a.Labels) > r.cfg.MaxLabels {
		return fmt.Errorf("agent %s declares %d labels; the limit is %d (relay --agent-max-labels)", a.Name, len(a.Labels), r.cfg.MaxLabels)
	}
	for k, v := range a.Labels {
		switch {
		case k == "":
			return fmt.Errorf("agent %s declares a label with no name", a.Name)
		case len(k) > r.cfg.MaxLabelKey:
			return fmt.Errorf("agent %s declares a label name of %d bytes; the limit is %d (relay --agent-max-label-key)", a.Name, len(k), r.cfg.MaxLabelKey)
		case len(v) > r.cfg.MaxLabelValue:
			return fmt.Errorf("agent %s declares label %s with a value of %d bytes; the limit is %d (relay --agent-max-label-value)",
				a.Name, k, len(v), r.cfg.MaxLabelValue)
		}
	}
	for what, v := range map[string]string{"hostname": a.Hostname, "os": a.OS, "arch": a.Arch, "version": a.Version} {
		if len(v) > maxInfoField {
			return fmt.Errorf("agent %s declares a %s of %d bytes; the limit is %d", a.Name, what, len(v), maxInfoField)
		}
	}
	return nil
}

// maxInfoField bounds an agent's hostname, os, arch and version.
const maxInfoField = 255

// auditAgent records an agent's connection or its refusal, with the id
// and name it claimed.
func (r *Relay) auditAgent(who principal, info *wire.AgentInfo, err error) {
	id, name := "", ""
	if info != nil {
		id, name = info.ID, info.Name
	}
	if err != nil {
		r.auditDenied(who, "agent_connect", id, fmt.Sprintf("as %q: %v", name, err))
		return
	}
	r.audit(who, "agent_connect", id, "ok", fmt.Sprintf("as %q", name))
}

// forgot drops the bindings an agent's first connection made, and keeps
// the name of one made with its token for a new id, as the store does.
func (t *tokens) forgot(agentID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.bindings[:0]
	for _, b := range t.bindings {
		switch {
		case b.AgentID != agentID:
		case b.Explicit:
			b.AgentID = ""
		default:
			continue
		}
		kept = append(kept, b)
	}
	t.bindings = kept
}
