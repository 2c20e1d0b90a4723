package version

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func withBuildInfo(t *testing.T, bi *debug.BuildInfo) {
	t.Helper()
	old := readBuildInfo
	readBuildInfo = func() (*debug.BuildInfo, bool) { return bi, bi != nil }
	t.Cleanup(func() { readBuildInfo = old })
}

func TestResolvePrefersLinkerThenModuleThenRevision(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "252c2678f00dfeedbeef0123456789abcdef0123"
	tests := []struct {
		name       string
		bi         *debug.BuildInfo
		v, c       string
		wantV      string
		wantCommit string
	}{
		{"linker wins", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.9"}, Settings: vcs(rev, "false")},
			"v0.1.0-3-gabc", "abc1234", "v0.1.0-3-gabc", "abc1234"},
		{"go install module@version", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}}, "", "", "v0.1.0", "unknown"},
		{"go build in a clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			"", "", "252c2678f00d", "252c2678f00d"},
		{"go build in a modified checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")},
			"", "", "252c2678f00d-dirty", "252c2678f00d-dirty"},
		{"linker version, revision from build info", &debug.BuildInfo{Settings: vcs(rev, "false")}, "v1.2.3", "", "v1.2.3", "252c2678f00d"},
		{"go run: nothing recorded", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "", "dev", "unknown"},
		{"no build info", nil, "", "", "dev", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withBuildInfo(t, tt.bi)
			got := resolve(tt.v, tt.c, "go1.26.8")
			want := Info{Version: tt.wantV, Commit: tt.wantCommit, Go: "go1.26.8"}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	got := Info{Version: "v0.1.0", Commit: "252c2678f00d", Go: "go1.26.8"}.Line("ingest")
	if want := "ingest v0.1.0 (252c2678f00d, go1.26.8)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAsked(t *testing.T) {
	subs := []string{"dlq", "trigger"}
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-version"}, true},
		{[]string{"--version"}, true},
		{[]string{"-version=true"}, true},
		{[]string{"-version", "-addr", ":1"}, true},
		{[]string{"dlq", "-version"}, true},
		{[]string{"trigger", "--version"}, true},
		{[]string{"dlq"}, false},
		{[]string{"dlq", "ls"}, false},
		{[]string{"-h"}, false},
		{[]string{"-addr", ":1", "-version"}, false}, // only in first position: the flag parser owns the rest
		{[]string{"sign", "-version"}, false},        // not a subcommand of this command
		{[]string{"-versions"}, false},
		{[]string{"version"}, false},
	}
	for _, tt := range tests {
		if got := Asked(tt.args, subs...); got != tt.want {
			t.Errorf("Asked(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestPrintWritesOneLine(t *testing.T) {
	var b bytes.Buffer
	if Print(&b, "worker", []string{"dlq", "ls"}, "dlq") || b.Len() != 0 {
		t.Fatalf("printed %q for a command line that does not ask", b.String())
	}
	if !Print(&b, "worker", []string{"dlq", "-version"}, "dlq") {
		t.Fatal("Print did not print for worker dlq -version")
	}
	want := Get().Line("worker") + "\n"
	if b.String() != want {
		t.Fatalf("printed %q, want %q", b.String(), want)
	}
}

// commands are every command of cmd/ and the subcommands that take -version.
var commands = map[string][]string{
	"ingest": {"sign"}, "initiator": nil, "worker": {"dlq", "compact"}, "epay-sandbox": {"serve", "trigger"},
	"devstack": {"trigger"}, "loadgen": {"run", "suite"}, "healthcheck": nil, "webhooks": nil,
}

// TestEveryCommandPrintsItsBuildVersion builds every command the way `make build` and the
// Dockerfile do (the version and commit given to the linker) and runs each with -version.
func TestEveryCommandPrintsItsBuildVersion(t *testing.T) {
	root := repoRoot(t)
	dirs, err := filepath.Glob(filepath.Join(root, "cmd", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(commands) {
		t.Fatalf("cmd/ has %d commands, this test knows %d: add the new one to commands (and call version.ExitIfAsked in its main)", len(dirs), len(commands))
	}
	for _, f := range []string{"Makefile", "Dockerfile"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"version", "commit"} {
			if !strings.Contains(string(b), "-X "+Package+"."+v+"=") && !strings.Contains(string(b), "-X $(VERSION_PKG)."+v+"=") {
				t.Errorf("%s does not set %s.%s with -ldflags -X", f, Package, v)
			}
		}
	}
	bin := t.TempDir()
	const v, c = "v9.8.7-test-dirty", "0123456789ab"
	ldflags := "-X " + Package + ".version=" + v + " -X " + Package + ".commit=" + c
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin+string(filepath.Separator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	goVersion := runtime.Version()
	for name, subs := range commands {
		for _, args := range append([][]string{{"-version"}, {"--version"}}, subArgs(subs)...) {
			cmd := exec.Command(filepath.Join(bin, name), args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("%s %s: %v (stderr %q)", name, strings.Join(args, " "), err, stderr.String())
				continue
			}
			want := name + " " + v + " (" + c + ", " + goVersion + ")\n"
			if stdout.String() != want || stderr.Len() != 0 {
				t.Errorf("%s %s: stdout %q stderr %q, want stdout %q", name, strings.Join(args, " "), stdout.String(), stderr.String(), want)
			}
		}
	}
}

// TestVersionWithoutLinkerFlags: a plain go build still prints a well-formed line.
func TestVersionWithoutLinkerFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "healthcheck")
	build := exec.Command("go", "build", "-o", bin, "./cmd/healthcheck")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^healthcheck \S+ \(\S+, ` + regexp.QuoteMeta(runtime.Version()) + `\)\n$`)
	if !re.Match(out) {
		t.Fatalf("printed %q, want %s", out, re)
	}
}

func subArgs(subs []string) [][]string {
	var out [][]string
	for _, s := range subs {
		out = append(out, []string{s, "-version"})
	}
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}
