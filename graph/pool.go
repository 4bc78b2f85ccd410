package graph

import (
	"context"
	"sync/atomic"
)

// Pool spreads writes over several app registrations of one tenant, each a Client with its own credential and
// app bucket, so that throughput adds up to the tenant's write cap (about 3 apps at Graph's default limits). Build
// the Clients with one shared Pacer (Config.Pacing) and distinct AppIDs: the Pacer's tenant bucket then keeps the
// sum under the tenant limit. Each call goes to the client with the most tokens available now; CreateUsers
// dispatches each batch of MaxBatch separately. A Pool is safe for concurrent use and has the write methods of a
// Client.
type Pool struct {
	clients []*Client
	rr      atomic.Uint64
	batchN  int
}

// NewPool returns a pool of clients. It panics when given none: a pool without clients is a programming error.
func NewPool(clients ...*Client) *Pool {
	if len(clients) == 0 {
		panic("graph: NewPool: no clients")
	}
	n := 0
	seen := map[string]bool{}
	for _, c := range clients {
		n += c.batchN
		if c.pacer != clients[0].pacer {
			c.log.Warn("graph: pool clients do not share one Pacer: the tenant's write limit is not enforced across them")
		}
		if seen[c.appID] {
			c.log.Warn("graph: two pool clients have the same AppID: they share one app bucket")
		}
		seen[c.appID] = true
	}
	return &Pool{clients: clients, batchN: n}
}

// Clients returns the pool's clients.
func (p *Pool) Clients() []*Client { return p.clients }

// pick returns the client whose app bucket has the most tokens now; ties rotate.
func (p *Pool) pick() *Client {
	if len(p.clients) == 1 {
		return p.clients[0]
	}
	start := int(p.rr.Add(1) % uint64(len(p.clients)))
	best := p.clients[start]
	bestAvail := best.pacer.Available(best.appID)
	for k := 1; k < len(p.clients); k++ {
		c := p.clients[(start+k)%len(p.clients)]
		if a := c.pacer.Available(c.appID); a > bestAvail {
			best, bestAvail = c, a
		}
	}
	return best
}

// CreateUser creates a user through the least loaded client (see Client.CreateUser).
func (p *Pool) CreateUser(ctx context.Context, u *User) (*User, error) {
	return p.pick().CreateUser(ctx, u)
}

// CreateUsers creates users through $batch, each batch sent by the least loaded client (see Client.CreateUsers).
func (p *Pool) CreateUsers(ctx context.Context, users []*User) []CreateResult {
	return createUsers(ctx, users, p.batchN, p.pick)
}

// UpdateUser patches a user through the least loaded client (see Client.UpdateUser).
func (p *Pool) UpdateUser(ctx context.Context, id string, patch map[string]any) error {
	return p.pick().UpdateUser(ctx, id, patch)
}

// DeleteUser deletes a user through the least loaded client (see Client.DeleteUser).
func (p *Pool) DeleteUser(ctx context.Context, id string) error {
	return p.pick().DeleteUser(ctx, id)
}

// Batch sends a $batch through the least loaded client (see Client.Batch).
func (p *Pool) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	return p.pick().Batch(ctx, reqs)
}

// GetUser reads a user (see Client.GetUser).
func (p *Pool) GetUser(ctx context.Context, id string, sel []string) (*User, error) {
	return p.pick().GetUser(ctx, id, sel)
}

// FindUsersByIdentity finds users by identity (see Client.FindUsersByIdentity).
func (p *Pool) FindUsersByIdentity(ctx context.Context, issuer, issuerAssignedID string, sel []string) ([]User, error) {
	return p.pick().FindUsersByIdentity(ctx, issuer, issuerAssignedID, sel)
}

// ListUsers lists users (see Client.ListUsers).
func (p *Pool) ListUsers(ctx context.Context, opt ListOptions, fn func(*User) error) error {
	return p.pick().ListUsers(ctx, opt, fn)
}

// DirectoryQuota returns the directory quota (see Client.DirectoryQuota).
func (p *Pool) DirectoryQuota(ctx context.Context) (used, total int64, err error) {
	return p.pick().DirectoryQuota(ctx)
}
