package client

import (
	"context"
	"fmt"

	"switchboard/internal/wire"
)

// Timing returns a stored command's timing events, in order (see
// docs/protocol.md, Recordings); none for a command recorded without.
func (c *Client) Timing(ctx context.Context, commandID string) ([]wire.TimingEvent, error) {
	var all []wire.TimingEvent
	from := int64(0)
	for {
		q := &wire.TimingQuery{CommandID: commandID, From: from}
		r, err := c.request(ctx, q, func(id string) { q.RequestID = id })
		if err != nil {
			return nil, err
		}
		res, ok := r.(*wire.TimingResult)
		if !ok {
			return nil, fmt.Errorf("timing: unexpected reply %s", r.MessageType())
		}
		all = append(all, res.Events...)
		if !res.More {
			return all, nil
		}
		if res.Next <= from {
			return nil, fmt.Errorf("timing of %s: the relay asked to go on from %d, which is not past %d", commandID, res.Next, from)
		}
		from = res.Next
	}
}
