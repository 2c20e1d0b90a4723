package proctest_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/proctest"
)

func TestBuildBuildsCommandsOfTheModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bins, err := proctest.Builder{Dir: t.TempDir()}.Build(context.Background(), "healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins["healthcheck"], "-version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "healthcheck") {
		t.Fatalf("the built healthcheck -version: %v %s", err, out)
	}
}

func TestBuildReportsTheCompilersError(t *testing.T) {
	_, err := proctest.Builder{Go: "go", Dir: t.TempDir(), Flags: []string{"-tags", "proctest"}}.Build(context.Background(), "no-such-command")
	if err == nil || !strings.Contains(err.Error(), "no-such-command") || !strings.Contains(err.Error(), "-tags proctest") {
		t.Fatalf("Build of a missing command: %v, want the go command's error with the flags", err)
	}
}
