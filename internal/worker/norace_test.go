//go:build !race

package worker

// raceBuild: the tests run without the race detector (see race_test.go).
const raceBuild = false
