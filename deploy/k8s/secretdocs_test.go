package k8s_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumentedSecretCommandsKeepEveryKey: a `kubectl create secret generic NAME ...
// --dry-run=client -o yaml | kubectl apply -f -` in the docs replaces the whole Secret,
// so each key make-secrets.sh puts in NAME that the command does not set is deleted (the
// WORKER_STATUS_KEY rotation once deleted WORKER_EVENTS_KEY: the workers' pods, which
// mount it, then did not start). Such a command must set every key, or be a
// `kubectl patch`.
func TestDocumentedSecretCommandsKeepEveryKey(t *testing.T) {
	made := makeSecrets(t, "epayflow", "EPAY_CLIENT_ID=id", "EPAY_CLIENT_SECRET=secret", "EPAY_TERMINAL=terminal")
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	create := regexp.MustCompile(`create secret generic (\S+)`)
	literal := regexp.MustCompile(`--from-(?:literal|file)=([A-Za-z0-9_.-]+)=`)
	checked := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// One command a line: continuation lines joined.
		for _, cmd := range strings.Split(strings.ReplaceAll(string(raw), "\\\n", " "), "\n") {
			m := create.FindStringSubmatch(cmd)
			if m == nil || !strings.Contains(cmd, "kubectl apply") {
				continue
			}
			name := strings.ReplaceAll(m[1], "$ROLE", "ingest")
			keys, ours := made[name]
			if !ours {
				continue
			}
			checked++
			var set []string
			for _, l := range literal.FindAllStringSubmatch(cmd, -1) {
				set = append(set, l[1])
			}
			for k := range keys {
				if !slices.Contains(set, k) {
					t.Errorf("%s: %q replaces Secret %s without its key %s, which it deletes (use kubectl patch)", filepath.Base(f), strings.TrimSpace(cmd), name, k)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no documented `create secret ... | kubectl apply` of a Secret make-secrets.sh makes: the test reads nothing")
	}
}

// TestMakeSecretsIsCreatedNotApplied: make-secrets.sh prints new values for everything not
// passed in, so `| kubectl apply` on a running deployment replaces the status, events,
// sealing and signing keys at once (state records, sealed secrets, events and callbacks
// refused). The docs' deploy lines use `kubectl create`, which never replaces a Secret;
// only the rotation of everything may apply it, and says so.
func TestMakeSecretsIsCreatedNotApplied(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md", "secrets/make-secrets.sh")
	pipe := regexp.MustCompile(`make-secrets\.sh[^|\n]*\|\s*kubectl (\w+)`)
	creates := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, para := range strings.Split(strings.ReplaceAll(string(raw), "\\\n", " "), "\n\n") {
			for _, m := range pipe.FindAllStringSubmatch(para, -1) {
				switch {
				case m[1] == "create":
					creates++
				case m[1] == "apply" && strings.Contains(para, "Regenerating everything"):
				default:
					t.Errorf("%s: %q: a second run would replace every Secret with new values; use kubectl create", filepath.Base(f), m[0])
				}
			}
		}
	}
	if creates == 0 {
		t.Error("no `make-secrets.sh | kubectl create` in the docs: the test reads nothing")
	}
}
