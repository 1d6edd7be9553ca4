package store

import (
	"context"
	"time"
)

// Session is a browser's sign-in as stored: never the id the browser
// holds in its cookie, only the id's SHA-256. It acts as its token, and
// ends when it expires, when the browser signs out, or when its token is
// revoked.
type Session struct {
	Hash      []byte
	Token     string // name of the token it acts as
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SignInCode is a one-time code that opens a Session for a token: what a
// sign-in link carries, so that no token ever travels in a URL. Only its
// SHA-256 is stored.
type SignInCode struct {
	Hash      []byte
	Token     string
	ExpiresAt time.Time
}

// Sessions stores browser sessions and sign-in codes. Expired ones are
// never returned.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with this hash, unless it expired by
	// now; ErrNotFound if there is none.
	Session(ctx context.Context, hash []byte, now time.Time) (Session, error)
	// DeleteSession ends a session; ending one that is gone is no error.
	DeleteSession(ctx context.Context, hash []byte) error
	CreateSignInCode(ctx context.Context, c SignInCode) error
	// UseSignInCode deletes the code and returns the name of its token;
	// ErrNotFound if there is none or it expired by now. A code works once.
	UseSignInCode(ctx context.Context, hash []byte, now time.Time) (string, error)
}

// AgentBinding ties an agent's identity to the one agent token that may
// register it: no other token may connect as that id or that name.
type AgentBinding struct {
	AgentName string
	AgentID   string // empty until the agent first connects, for a binding made with the token
	Token     string
	Explicit  bool // made when the token was created (relay token create --agent); outlives the agent
	BoundAt   time.Time
}

// AgentBindings stores which token each agent belongs to. A change moves
// the counter of Auth.TokensChanged, so relays reload them with the tokens.
type AgentBindings interface {
	AgentBindings(ctx context.Context) ([]AgentBinding, error)
	// BindAgent stores b, or fills in the agent id of the binding of its
	// name. Bindings of the same name or id held by a token that is
	// revoked, expired at b.BoundAt or gone are replaced; ErrExists if a
	// valid token other than b.Token holds either.
	BindAgent(ctx context.Context, b AgentBinding) error
	// UnbindAgent ends the bindings of an agent id that its first
	// connection made, and clears the id of one made with its token, which
	// keeps the name for a new id (forgetting an agent does this too).
	UnbindAgent(ctx context.Context, agentID string) error
}
