package client

import (
	"context"
	"fmt"

	"switchboard/internal/wire"
)

// Search asks the relay for lines of stored output that match q (one
// page: q.Before and the result's Next page through the rest).
func (c *Client) Search(ctx context.Context, q wire.SearchQuery) (*wire.SearchResult, error) {
	r, err := c.request(ctx, &q, func(id string) { q.RequestID = id })
	if err != nil {
		return nil, err
	}
	res, ok := r.(*wire.SearchResult)
	if !ok {
		return nil, fmt.Errorf("search: unexpected reply %s", r.MessageType())
	}
	return res, nil
}
