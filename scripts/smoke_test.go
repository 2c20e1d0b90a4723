// Package scripts holds the tests of the repository's shell scripts.
package scripts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
)

// startStack runs the local stack (make run) on free ports until the test ends.
func startStack(t *testing.T) devstack.URLs {
	t.Helper()
	return devstacktest.Start(t, devstacktest.Options{})
}

func smoke(t *testing.T, args ...string) (string, error) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: scripts/smoke.sh needs it (.ci/run installs it)", tool)
		}
	}
	cmd := exec.Command("bash", append([]string{"smoke.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestSmokeAgainstTheLocalStack runs scripts/smoke.sh as the README says against make
// run's stack: a payment through POST /v1/payments, paid on the sandbox's card form, the
// callback through the ingest, paid in the worker with its event.
func TestSmokeAgainstTheLocalStack(t *testing.T) {
	u := startStack(t)
	page := filepath.Join(t.TempDir(), "pay.html")
	out, err := smoke(t, "-initiator", u.Initiator, "-api-key", devstack.DevAPIKey,
		"-worker", u.Worker, "-worker-key", u.WorkerReadKey, "-pay-sandbox", "-wait", "60", "-page", page)
	if err != nil {
		t.Fatalf("smoke.sh: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^ok: invoice (\d+) paid \(transaction \S+, card 440563\.\.\.5096\), callback applied, event published$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ok line:\n%s", out)
	}
	for _, want := range []string{"payment page: file://" + page, "4405 6397 0401 5096, 01/27, CVC 321", " success created -> paid verified=true events="} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<script src="` + u.Sandbox + `/payform/payment-api.js"></script>`, `"invoiceId":"` + m[1] + `"`, "halyk.pay(paymentObject)"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("payment page lacks %q:\n%s", want, html)
		}
	}
}

// TestSmokeFailsClearly: a wrong key, an unpaid invoice after -wait, bad arguments.
func TestSmokeFailsClearly(t *testing.T) {
	u := startStack(t)
	unknown := "unknown-" + strconv.FormatInt(time.Now().UnixNano(), 36) // a key no stack has
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"wrong API key", []string{"-initiator", u.Initiator, "-api-key", unknown, "-worker", u.Worker, "-worker-key", u.WorkerReadKey},
			"smoke: POST " + u.Initiator + "/v1/payments: HTTP 401"},
		{"wrong read key", []string{"-initiator", u.Initiator, "-api-key", devstack.DevAPIKey, "-worker", u.Worker, "-worker-key", unknown},
			"the worker refuses the read key: HTTP 401"},
		{"not paid in time", []string{"-initiator", u.Initiator, "-api-key", devstack.DevAPIKey, "-worker", u.Worker, "-worker-key", u.WorkerReadKey, "-wait", "3"},
			"is not paid after 3s (last: created)"},
		{"missing settings", []string{"-initiator", u.Initiator}, "-initiator, -worker, an API key and a worker read key are required"},
		{"bad amount", []string{"-initiator", u.Initiator, "-api-key", "k", "-worker", u.Worker, "-worker-key", "k", "-amount", "1.5"}, "-amount 1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := smoke(t, tt.args...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("err %v, output lacks %q:\n%s", err, tt.want, out)
			}
		})
	}
}
