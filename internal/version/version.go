// Package version is what `-version` prints for every command: the version and commit
// set at build time, or what the Go toolchain recorded in the binary.
//
// The build sets them with the linker (Makefile `build`, Dockerfile):
//
//	go build -ldflags "-X github.com/epayflow/epayflow/internal/version.version=$(git describe --tags --always --dirty) \
//	  -X github.com/epayflow/epayflow/internal/version.commit=$(git rev-parse --short=12 HEAD)" ./cmd/...
//
// Without them (go build, go install, go run) the version is the module version the Go
// toolchain recorded (go install …@v0.1.0), else the VCS revision it stamped, else "dev".
package version

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X at build time; empty means "ask the build info".
var (
	version string
	commit  string
)

// Package is the import path the -X flags name (…/version.version, …/version.commit).
const Package = "github.com/epayflow/epayflow/internal/version"

// Info is a binary's version, the commit it was built from and its Go version.
type Info struct {
	Version string
	Commit  string
	Go      string
}

// readBuildInfo is debug.ReadBuildInfo; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

// Get returns the version of the running binary.
func Get() Info {
	return resolve(version, commit, runtime.Version())
}

// resolve fills in what the linker did not set from the build info: the module version
// when it is a real one, the VCS revision (with "-dirty" when the tree was modified),
// and "dev" and "unknown" when there is nothing.
func resolve(v, c, goVersion string) Info {
	var mod, rev string
	var dirty bool
	if bi, ok := readBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			mod = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	if c == "" {
		c = rev
	}
	if v == "" {
		v = mod
	}
	if v == "" {
		v = rev
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return Info{Version: v, Commit: c, Go: goVersion}
}

// Line is what `<command> -version` prints: "<command> <version> (<commit>, <go version>)".
func (i Info) Line(command string) string {
	return fmt.Sprintf("%s %s (%s, %s)", command, i.Version, i.Commit, i.Go)
}

// Asked reports whether args ask for the version: "-version" or "--version" (or
// -version=true) as the first argument, or right after one of the subcommands
// ("worker dlq -version").
func Asked(args []string, subcommands ...string) bool {
	if len(args) == 0 {
		return false
	}
	if isFlag(args[0]) {
		return true
	}
	for _, s := range subcommands {
		if args[0] == s {
			return len(args) > 1 && isFlag(args[1])
		}
	}
	return false
}

func isFlag(a string) bool {
	switch a {
	case "-version", "--version", "-version=true", "--version=true":
		return true
	}
	return false
}

// Print writes the version line of command to w when args ask for it (Asked) and
// reports whether it did.
func Print(w io.Writer, command string, args []string, subcommands ...string) bool {
	if !Asked(args, subcommands...) {
		return false
	}
	fmt.Fprintln(w, Get().Line(command))
	return true
}

// ExitIfAsked is the first line of every command's main: when the command line asks
// for the version (Asked), it prints the version line to stdout and exits 0; otherwise
// it returns and the command runs.
func ExitIfAsked(command string, subcommands ...string) {
	if Print(os.Stdout, command, os.Args[1:], subcommands...) {
		os.Exit(0)
	}
}
