package jspubsub

import "time"

// SetAttemptTimeout shortens one try of a consumer's creation for a test.
func SetAttemptTimeout(d time.Duration) (restore func()) {
	old := attemptTimeout
	attemptTimeout = d
	return func() { attemptTimeout = old }
}

// NoteUnfinishedTakeover leaves s as a takeover of durable from stream sequence from
// leaves it when it deleted the consumer and could not make it again.
func NoteUnfinishedTakeover(s *Subscriber, durable string, from uint64) {
	s.mu.Lock()
	s.takingOver[durable] = from
	s.mu.Unlock()
}
