package ingest

import (
	"context"
	"sync/atomic"
	"time"
)

// deadlines gives each publish its timeout without a timer of its own. A context made
// with context.WithTimeout costs a timer, an allocation and (under the request's
// context) a registration with its parent, about as much as decoding the callback:
// instead, one context is made per tick and shared by every publish that starts within
// that tick. A publish started at t waits until between t+timeout and t+timeout+tick.
//
// The shared contexts descend from no request: a publish is not abandoned when ePay
// closes its connection before the PubAck. It ends within its timeout either way, and a
// callback stored after its sender left is only stored; ePay's retry is a duplicate.
type deadlines struct {
	timeout, tick time.Duration
	cur           atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc // never needed: it ends at its deadline; kept for go vet
	made   time.Time
}

// maxDeadlineTick bounds how much longer than its timeout a publish may wait.
const maxDeadlineTick = 100 * time.Millisecond

func newDeadlines(timeout time.Duration) *deadlines {
	return &deadlines{timeout: timeout, tick: max(min(timeout/10, maxDeadlineTick), time.Millisecond)}
}

// after returns a context that ends between timeout and timeout+tick after now (the
// caller's time.Now).
func (d *deadlines) after(now time.Time) context.Context {
	if c := d.cur.Load(); c != nil && now.Sub(c.made) < d.tick {
		return c.ctx
	}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(d.timeout+d.tick))
	d.cur.Store(&sharedDeadline{ctx: ctx, cancel: cancel, made: now})
	return ctx
}
