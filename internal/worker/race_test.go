//go:build race

package worker

// raceBuild: the tests run with the race detector, and so do the binaries they build.
const raceBuild = true
