package docs_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// repo is the repository the documents describe, for the checks every shell block gets,
// whatever its marker: it parses (bash -n), every make target it names is in the
// Makefile, every package of a go command and every path of the repository it names
// exists (or is one git ignores: a file a command makes, such as deploy/compose/.env),
// and what a run-by names exists.
type repo struct {
	root    string
	targets map[string]bool // of the Makefile
	tops    map[string]bool // top-level directories
}

func newRepo(root string) (*repo, error) {
	r := &repo{root: root, targets: map[string]bool{}, tops: map[string]bool{}}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return nil, err
	}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)\s*:([^=]|$)`).FindAllStringSubmatch(string(mk), -1) {
		r.targets[m[1]] = true
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != ".git" {
			r.tops[e.Name()] = true
		}
	}
	return r, nil
}

// check returns every problem of a shell block that needs no running.
func (r *repo) check(b block, m marker) []error {
	var errs []error
	if err := bashParses(b); err != nil {
		errs = append(errs, err)
	}
	for _, cmd := range commands(script(b)) {
		errs = append(errs, r.checkCommand(b, cmd)...)
	}
	if m.Kind == "manual" && !reasonEvidence[m.Reason].MatchString(script(b)) {
		errs = append(errs, fmt.Errorf("%s: manual %s, but no command of the block needs %s", b, m.Reason, manualReasons[m.Reason]))
	}
	if m.Kind == "run-by" {
		for _, ref := range m.Refs {
			if err := r.checkRef(b, ref); err != nil {
				errs = append(errs, fmt.Errorf("%s: run-by %s: %w", b, ref, err))
			}
		}
	}
	return errs
}

var bashLine = regexp.MustCompile(`line (\d+): `)

// bashParses runs bash -n on the block's script; its line numbers become the file's.
func bashParses(b block) error {
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(script(b))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := bashLine.ReplaceAllStringFunc(strings.TrimSpace(out.String()), func(s string) string {
			n, _ := strconv.Atoi(bashLine.FindStringSubmatch(s)[1])
			return fmt.Sprintf("line %d: ", b.Line+n)
		})
		return fmt.Errorf("%s: bash -n: %v: %s", b, err, msg)
	}
	return nil
}

func (r *repo) checkCommand(b block, cmd []string) []error {
	var errs []error
	pkgs := map[string]bool{} // checked as packages, not again as paths
	switch {
	case cmd[0] == "make":
		for _, a := range cmd[1:] {
			if !strings.HasPrefix(a, "-") && !envName.MatchString(a) && !r.targets[a] {
				errs = append(errs, fmt.Errorf("%s: make %s: the Makefile has no target %s", b, a, a))
			}
		}
	case cmd[0] == "go" && len(cmd) > 2 && (cmd[1] == "run" || cmd[1] == "build" || cmd[1] == "test" || cmd[1] == "vet"):
		for _, a := range cmd[2:] {
			dir := strings.TrimSuffix(strings.TrimSuffix(a, "..."), "/")
			if !strings.HasPrefix(a, "./") || strings.Contains(a, "$") {
				continue
			}
			pkgs[a] = true
			if !hasGoFiles(filepath.Join(r.root, dir)) {
				errs = append(errs, fmt.Errorf("%s: go %s %s: no Go package there", b, cmd[1], a))
			}
		}
	}
	for i, w := range cmd {
		if pkgs[w] || cmd[0] == "kubectl" && (i == 0 || !kubectlFileFlags[cmd[i-1]]) {
			continue // deploy/ingest is a resource there, not a path
		}
		if p, ok := r.repoPath(w); ok && !r.existsOrIgnored(p) {
			errs = append(errs, fmt.Errorf("%s: %s: no such file in the repository", b, w))
		}
	}
	return errs
}

// kubectlFileFlags take a path; kubectl's other words are resources and names.
var kubectlFileFlags = map[string]bool{"-f": true, "--filename": true, "-k": true, "--kustomize": true}

// repoPath reports whether a word names a path in the repository: a relative path
// whose first element is a top-level directory, without an expansion or a placeholder.
func (r *repo) repoPath(w string) (string, bool) {
	p := strings.TrimPrefix(w, "./")
	first, _, ok := strings.Cut(p, "/")
	if !ok || !r.tops[first] || strings.ContainsAny(p, "$<>*?{}[]…") {
		return "", false
	}
	return filepath.FromSlash(p), true
}

func (r *repo) existsOrIgnored(p string) bool {
	if _, err := os.Stat(filepath.Join(r.root, p)); err == nil {
		return true
	}
	return exec.Command("git", "-C", r.root, "check-ignore", "-q", "--", p).Run() == nil
}

func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

var goTestRef = regexp.MustCompile(`^([A-Za-z0-9_./-]+)\.(Test[A-Za-z0-9_]*)$`)

// checkRef: pkg/dir.TestName is a test function of that directory; Makefile:target a
// target; any other ref a file that holds at least one of the block's commands as written.
func (r *repo) checkRef(b block, ref string) error {
	if m := goTestRef.FindStringSubmatch(ref); m != nil {
		return hasTest(filepath.Join(r.root, filepath.FromSlash(m[1])), m[2])
	}
	if file, target, ok := strings.Cut(ref, ":"); ok {
		if file != "Makefile" {
			return errors.New("only Makefile:target names a part of a file")
		}
		if !r.targets[target] {
			return fmt.Errorf("the Makefile has no target %s", target)
		}
		return nil
	}
	data, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(ref)))
	if err != nil {
		return err
	}
	for _, l := range strings.Split(script(b), "\n") {
		l, _, _ = strings.Cut(l, " #")
		if l = strings.TrimSpace(l); l != "" && bytes.Contains(data, []byte(l)) {
			return nil
		}
	}
	return fmt.Errorf("%s runs none of these commands as written", ref)
}

// hasTest reports whether a _test.go file of dir declares func name(t *testing.T).
func hasTest(dir, name string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no test files in %s", dir)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name {
				return nil
			}
		}
	}
	return fmt.Errorf("no func %s in %s", name, dir)
}
