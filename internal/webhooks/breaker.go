package webhooks

import (
	"sync"
	"time"
)

// breakers are the endpoints' circuit breakers: after Threshold consecutive failures an
// endpoint is paused (no request) for Cooldown; then one probe goes out, and its success
// closes the circuit, its failure opens it again.
type breakers struct {
	threshold int
	cooldown  time.Duration
	mu        sync.Mutex
	state     map[string]*breaker
}

type breaker struct {
	failures  int
	openUntil time.Time // zero: closed
	probing   bool
	slowOnly  bool // every failure since the last success was a slow success (done's slow)
}

func newBreakers(threshold int, cooldown time.Duration) *breakers {
	return &breakers{threshold: threshold, cooldown: cooldown, state: map[string]*breaker{}}
}

func (b *breakers) get(id string) *breaker {
	s := b.state[id]
	if s == nil {
		s = &breaker{}
		b.state[id] = s
	}
	return s
}

// allow reports whether a request to id may go out at now.
func (b *breakers) allow(id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.get(id)
	switch {
	case s.openUntil.IsZero():
		return true
	case now.Before(s.openUntil) || s.probing:
		return false
	}
	s.probing = true
	return true
}

// done records a request's outcome; opened says this failure opened the circuit. slow
// says a failure was a success that came too slowly (delivered, but counted against the
// circuit).
func (b *breakers) done(id string, ok, slow bool, now time.Time) (opened, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.get(id)
	wasOpen := !s.openUntil.IsZero()
	s.probing = false
	if ok {
		*s = breaker{}
		return false, wasOpen
	}
	s.slowOnly = slow && (s.failures == 0 || s.slowOnly)
	s.failures++
	if wasOpen || s.failures >= b.threshold {
		s.openUntil = now.Add(b.cooldown)
		return !wasOpen, false
	}
	return false, false
}

// pausedForSlowness says id's circuit is open and nothing but slow successes opened it:
// a pause that uses up no event's attempts (the receiver failed nothing).
func (b *breakers) pausedForSlowness(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state[id]
	return s != nil && !s.openUntil.IsZero() && s.slowOnly
}

// openUntil is when id may be probed again: zero when its circuit is closed.
func (b *breakers) openUntil(id string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.state[id]; s != nil {
		return s.openUntil
	}
	return time.Time{}
}
