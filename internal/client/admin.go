package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"switchboard/internal/wire"
)

// SignIn asks the relay for a one-time code that signs a browser in as
// this client's token, and returns the page's address with it: a link
// that works once, until the time returned. From a relay without
// authentication it returns the page's plain address and the zero time.
func (c *Client) SignIn(ctx context.Context) (link string, expires time.Time, err error) {
	q := &wire.SignInQuery{}
	r, err := c.request(ctx, q, func(id string) { q.RequestID = id })
	page := c.cfg.PageURL
	if page == "" {
		page = PageURL(c.cfg.Relay)
	}
	if we, ok := errors.AsType[*wire.Error](err); ok && we.Code == wire.CodeNotFound {
		return page, time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	s, ok := r.(*wire.SignInResult)
	if !ok {
		return "", time.Time{}, fmt.Errorf("signin: unexpected reply %s", r.MessageType())
	}
	return strings.TrimRight(page, "/") + "/#signin=" + s.Code, s.ExpiresAt, nil
}

// PageURL is the address of the browser dashboard of the relay at relay
// (as Config.Relay takes it).
func PageURL(relay string) string {
	u, err := dashboardURL(relay)
	if err != nil {
		return relay
	}
	pu, _ := url.Parse(u) // dashboardURL made it
	pu.Scheme = map[string]string{"ws": "http", "wss": "https"}[pu.Scheme]
	pu.Path, pu.RawQuery = "/", ""
	return pu.String()
}

// ForgetAgent asks the relay to forget an offline agent (admin tokens
// only), by id or name, and returns its id.
func (c *Client) ForgetAgent(ctx context.Context, agent string) (string, error) {
	q := &wire.AgentForget{Agent: agent}
	r, err := c.request(ctx, q, func(id string) { q.RequestID = id })
	if err != nil {
		return "", err
	}
	f, ok := r.(*wire.AgentForgetResult)
	if !ok {
		return "", fmt.Errorf("agent.forget: unexpected reply %s", r.MessageType())
	}
	return f.AgentID, nil
}
