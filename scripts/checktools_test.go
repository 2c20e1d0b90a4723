package scripts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkTools runs check-tools.sh with a PATH holding only fakes of tools, and no
// CHROMIUM_PATH.
func checkTools(t *testing.T, tools ...string) (string, error) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tool := range tools {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bash, "check-tools.sh")
	cmd.Env = []string{"PATH=" + dir}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// TestCheckToolsNamesEveryMissingToolAtOnce: make test fails first, with one line naming
// every missing tool and the Debian packages to install.
func TestCheckToolsNamesEveryMissingToolAtOnce(t *testing.T) {
	tests := []struct {
		tools []string
		want  string
	}{
		{nil, "make test: missing chromium (the browser tests), promtool (make rules-check), kubectl (make k8s-check) and nats (the runbook's NATS commands); install: apt-get install chromium prometheus kubectl (Debian packages), go install github.com/nats-io/natscli/nats@v0.5.0; .ci/run installs them\n"},
		{[]string{"chromium", "promtool", "nats"}, "make test: missing kubectl (make k8s-check); install: apt-get install kubectl (Debian packages); .ci/run installs them\n"},
		{[]string{"kubectl", "chromium-browser", "nats"}, "make test: missing promtool (make rules-check); install: apt-get install prometheus (Debian packages); .ci/run installs them\n"},
		{[]string{"promtool", "kubectl", "nats"}, "make test: missing chromium (the browser tests); install: apt-get install chromium (Debian packages); .ci/run installs them\n"},
		{[]string{"chromium", "promtool", "kubectl"}, "make test: missing nats (the runbook's NATS commands); install: go install github.com/nats-io/natscli/nats@v0.5.0; .ci/run installs them\n"},
	}
	for _, tt := range tests {
		out, err := checkTools(t, tt.tools...)
		if err == nil || out != tt.want {
			t.Errorf("with %v: err %v, output %q; want a failure with %q", tt.tools, err, out, tt.want)
		}
	}
	if out, err := checkTools(t, "chromium", "promtool", "kubectl", "nats"); err != nil {
		t.Errorf("with every tool: %v %s", err, out)
	}
}

// TestMakeTestChecksToolsFirstAndRequiresChromium: make test runs check-tools.sh before
// anything else, and its go test makes the browser tests fail without Chromium.
func TestMakeTestChecksToolsFirstAndRequiresChromium(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	target := regexp.MustCompile(`(?m)^test:([^\n]*)\n((?:\t[^\n]*\n)+)`).FindStringSubmatch(mk)
	if target == nil {
		t.Fatal("no test target in the Makefile")
	}
	if prereqs := strings.Fields(target[1]); len(prereqs) == 0 || prereqs[0] != "tools-check" {
		t.Errorf("test's prerequisites %q: want tools-check first", target[1])
	}
	if !regexp.MustCompile(`(?m)^tools-check:\n\t@?\./scripts/check-tools\.sh\n`).MatchString(mk) {
		t.Error("no tools-check target running scripts/check-tools.sh")
	}
	if !regexp.MustCompile(`\tEPAYFLOW_REQUIRE_CHROMIUM=1 \$\(GO\) test -race `).MatchString(target[2]) {
		t.Errorf("make test's go test does not set EPAYFLOW_REQUIRE_CHROMIUM=1:\n%s", target[2])
	}
}
