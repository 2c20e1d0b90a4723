package jspubsub

// turns chains the messages of each key: a message's turn comes when the one taken
// before it with the same key is done. Only the pump touches it; the goroutines only
// close channels, so it needs no lock.
type turns struct {
	last  map[string]chan struct{} // per key, the done of its latest message
	limit int
}

func newTurns(limit int) *turns {
	return &turns{last: make(map[string]chan struct{}), limit: limit}
}

// take returns what the next message of key waits for (nil: nothing) and the func that
// ends its turn, to be called exactly once.
func (t *turns) take(key string) (prev <-chan struct{}, done func()) {
	if key == "" {
		return nil, func() {}
	}
	if len(t.last) >= t.limit {
		t.sweep()
	}
	ch := make(chan struct{})
	prev, t.last[key] = t.last[key], ch
	return prev, func() { close(ch) }
}

// sweep forgets the keys whose latest message is done. An open channel belongs to a
// message that holds a slot, so at most MaxInFlight keys survive: with limit at twice
// that, the map stays bounded and the sweeps cost O(1) a message.
func (t *turns) sweep() {
	for k, ch := range t.last {
		select {
		case <-ch:
			delete(t.last, k)
		default:
		}
	}
}
