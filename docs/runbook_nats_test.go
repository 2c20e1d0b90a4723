package docs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// natsBoxCall is how the runbook runs the nats CLI: in the nats-box pod
// (deploy/k8s/tools/nats-box.yaml), whose image has the CLI and whose environment has
// NATS_URL and the admin user's NATS_USER and NATS_PASSWORD. What follows "--" is the
// command that runs there.
var natsBoxCall = regexp.MustCompile(`^kubectl -n \$NS exec (?:-it )?nats-box -- (nats\s.*)$`)

// natsBoxCommands returns, by where they are, the commands the runbook runs in nats-box;
// a line that names nats-box another way (deploy/nats-box: the pod is no Deployment) is
// an error.
func natsBoxCommands(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "docs", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseBlocks("docs/RUNBOOK.md", src)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, b := range blocks {
		if !isShell(b) {
			continue
		}
		for i, l := range strings.Split(script(b), "\n") {
			l, _, _ = strings.Cut(l, " #")
			l = strings.TrimSpace(l)
			if !strings.Contains(l, "nats-box --") && !strings.Contains(l, "deploy/nats-box") || strings.HasSuffix(l, "nats-box -- sh") {
				continue // not the CLI (or the pod's shell, for a session by hand)
			}
			m := natsBoxCall.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("docs/RUNBOOK.md:%d: %q: run the CLI as kubectl -n $NS exec [-it] nats-box -- nats ...", b.Line+1+i, l)
				continue
			}
			out["docs/RUNBOOK.md:"+strconv.Itoa(b.Line+1+i)] = m[1]
		}
	}
	if len(out) == 0 {
		t.Fatal("no nats-box command found in docs/RUNBOOK.md: the pattern is stale")
	}
	return out
}

// runByThis are the runbook's blocks marked run-by this test: what an operator runs against
// NATS's monitoring port (localhost:8222 after a port-forward).
func runByThis(t *testing.T) []block {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "docs", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := shellBlocks(r, "docs/RUNBOOK.md", src) // TestEveryShellBlockIsMarked reports problems
	var out []block
	for _, b := range blocks {
		if b.Kind == "run-by" && slices.Contains(b.Refs, "docs.TestRunbookNATSCommandsRunAsAdmin") {
			out = append(out, b.block)
		}
	}
	return out
}

// Every nats command of the runbook runs, as written, with nats-box's identity against a
// NATS with the production permissions (the local stack's: a user per role): the admin
// user may do it, its replies come where admin may receive them, the stream, consumer or
// bucket it names exists. The blocks marked run-by this test run too, as written, with
// localhost:8222 at the server's monitoring port.
func TestRunbookNATSCommandsRunAsAdmin(t *testing.T) {
	bin, err := exec.LookPath("nats")
	if err != nil {
		t.Fatal("nats (the CLI) not found: go install github.com/nats-io/natscli/nats@v0.5.0; .ci/run does")
	}
	cmds := natsBoxCommands(t)
	monitorBlocks := runByThis(t)
	if len(monitorBlocks) == 0 {
		t.Fatal("no block of docs/RUNBOOK.md is marked run-by docs.TestRunbookNATSCommandsRunAsAdmin")
	}
	urls := devstacktest.Start(t, devstacktest.Options{NATSMonitor: true})
	admin := urls.NATSUsers[natsbus.RoleAdmin]
	env := append(baseEnv(t.TempDir()), "HOME="+t.TempDir(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
		"NATS_URL="+urls.NATS, "NATS_USER="+admin.User, "NATS_PASSWORD="+admin.Password)
	for where, cmd := range cmds {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		c := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", cmd)
		c.Env = env
		out, err := c.CombinedOutput()
		cancel()
		if err != nil || len(strings.TrimSpace(string(out))) == 0 {
			t.Errorf("%s: %s: %v\n%s", where, cmd, err, out)
			continue
		}
		t.Logf("%s: %s: ok", where, cmd)
	}
	for _, b := range monitorBlocks {
		text, err := rewriteAddrs(script(b), map[string]string{"8222": hostPort(urls.NATSMonitor)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := blockRun{Dir: t.TempDir(), Script: text, Env: env, Timeout: 30 * time.Second}.run()
		for _, want := range []string{`"status":"ok"`, `"streams":`, `"routes"`} {
			if err == nil && !strings.Contains(out, want) {
				err = fmt.Errorf("the output lacks %s", want)
			}
		}
		if err != nil {
			t.Errorf("%s: %v\n--- the block as run:\n%s--- its output:\n%s", b, err, text, out)
		}
	}
}
