package jspubsub

import "time"

// SetAttemptTimeout shortens one try of a consumer's creation for a test.
func SetAttemptTimeout(d time.Duration) (restore func()) {
	old := attemptTimeout
	attemptTimeout = d
	return func() { attemptTimeout = old }
}
