//go:build race

package epay

// raceEnabled: the race detector drops a share of sync.Pool's items on purpose, so a
// pooled path allocates now and then under it.
const raceEnabled = true
