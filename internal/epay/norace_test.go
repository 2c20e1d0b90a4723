//go:build !race

package epay

const raceEnabled = false
