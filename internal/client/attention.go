package client

import (
	"context"
	"fmt"

	"switchboard/internal/wire"
)

// QuickReply sends text as input to a waiting command (m.CommandID), or
// to the named agent's most urgent waiting command (m.Agent), and returns
// the id of the command it went to. A command that is not waiting is
// refused with wire.CodeNotWaiting.
func (c *Client) QuickReply(ctx context.Context, m wire.QuickReply) (string, error) {
	r, err := c.request(ctx, &m, func(id string) { m.RequestID = id })
	if err != nil {
		return "", err
	}
	sent, ok := r.(*wire.QuickReplySent)
	if !ok {
		return "", fmt.Errorf("quick reply: unexpected reply %s", r.MessageType())
	}
	return sent.CommandID, nil
}

// MostUrgent orders agents for attention lists: more urgent first, then,
// among equals, the one in that state longest, then by name and id.
func MostUrgent(a, b wire.Agent) int {
	if ua, ub := a.Attention.Urgency(), b.Attention.Urgency(); ua != ub {
		return ub - ua
	}
	if !a.AttentionSince.Equal(b.AttentionSince) {
		if a.AttentionSince.IsZero() || (!b.AttentionSince.IsZero() && b.AttentionSince.Before(a.AttentionSince)) {
			return 1
		}
		return -1
	}
	switch {
	case a.Name != b.Name:
		if a.Name < b.Name {
			return -1
		}
		return 1
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}
