//go:build race

package chaos

// raceBuild: the test runs with the race detector (go test -race, as make test runs it),
// and the services it builds get it too unless CHAOS_BUILD_FLAGS says otherwise.
const raceBuild = true
