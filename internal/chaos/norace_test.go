//go:build !race

package chaos

// raceBuild: the test runs without the race detector (see race_test.go).
const raceBuild = false
