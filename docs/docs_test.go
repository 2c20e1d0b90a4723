package docs_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const root = ".." // the repository, from this package's directory

// documents are README.md and every docs/*.md, found anew on each run.
func documents(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{"README.md"}
	for _, f := range files {
		docs = append(docs, filepath.ToSlash(strings.TrimPrefix(f, root+string(filepath.Separator))))
	}
	return docs
}

// marked is a shell block with its marker.
type marked struct {
	block
	marker
}

// shellBlocks returns the shell blocks of a document with their markers, and every
// problem found without running anything: a shell block without a marker or with a bad
// one, a marker on a block of another language, and what repo.check finds.
func shellBlocks(r *repo, file string, src []byte) ([]marked, []error) {
	blocks, err := parseBlocks(file, src)
	if err != nil {
		return nil, []error{err}
	}
	var (
		out  []marked
		errs []error
	)
	for _, b := range blocks {
		shell := isShell(b) || (b.Marker != "" && plainLangs[b.Lang()])
		switch {
		case !shell && b.Marker != "":
			errs = append(errs, fmt.Errorf("%s: a docs marker on a %q block, which is not shell", b, b.Info))
			continue
		case !shell:
			continue
		case b.Marker == "":
			errs = append(errs, fmt.Errorf("%s: a shell block without a docs marker on the line above it "+
				"(<!-- docs: run -->, run-by or manual: README.md, \"Commands in the docs\")", b))
			continue
		}
		m, err := parseMarker(b.Marker)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", b.File, b.MarkerLine, err))
			continue
		}
		errs = append(errs, r.check(b, m)...)
		out = append(out, marked{b, m})
	}
	return out, errs
}

// TestEveryShellBlockIsMarked: every shell block of README.md and docs/*.md says what
// runs it, and passes the checks that need no running (repo.check).
func TestEveryShellBlockIsMarked(t *testing.T) {
	r, err := newRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, doc := range documents(t) {
		src, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		blocks, errs := shellBlocks(r, doc, src)
		for _, err := range errs {
			t.Error(err)
		}
		for _, b := range blocks {
			counts[b.Kind]++
		}
	}
	t.Logf("shell blocks: %d run, %d run-by, %d manual", counts["run"], counts["run-by"], counts["manual"])
	if counts["run"] == 0 {
		t.Error("no run block at all")
	}
}

// TestRunBlocksRun runs every run block, document by document (in parallel), block by
// block in the document's order, in one temporary copy of the repository.
func TestRunBlocksRun(t *testing.T) {
	r, err := newRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]marked{}
	pkgs := []string{"./cmd/..."} // make run, scripts/smoke.sh and the triggers use these
	for _, doc := range documents(t) {
		src, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		blocks, _ := shellBlocks(r, doc, src) // TestEveryShellBlockIsMarked reports problems
		for _, b := range blocks {
			if b.Kind == "run" {
				docs[doc] = append(docs[doc], b)
				pkgs = append(pkgs, goRunPackages(b.block)...)
			}
		}
	}
	dir := copyRepo(t)
	warmBuild(t, dir, pkgs)
	for _, doc := range documents(t) {
		runs := docs[doc]
		if len(runs) == 0 {
			continue
		}
		t.Run(doc, func(t *testing.T) {
			t.Parallel()
			var st *stack
			for _, b := range runs {
				if b.Stack && st == nil {
					st = startStack(t)
				}
				t.Run(strconv.Itoa(b.Line), func(t *testing.T) { runBlock(t, dir, b, st) })
			}
		})
	}
}

// goRunPackages are the packages a block's go run commands build.
func goRunPackages(b block) []string {
	var pkgs []string
	for _, cmd := range commands(script(b)) {
		if len(cmd) > 2 && cmd[0] == "go" && cmd[1] == "run" && strings.HasPrefix(cmd[2], "./") {
			pkgs = append(pkgs, cmd[2])
		}
	}
	return pkgs
}

// warmBuild compiles, once and with the blocks' flags, what their go run commands build,
// so that documents running side by side do not each compile the same packages.
func warmBuild(t *testing.T, dir string, pkgs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", os.DevNull}, pkgs...)...)
	cmd.Dir, cmd.Env = dir, baseEnv(t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
}

// runBlock runs one run block and fails the test, naming the block, when it fails or its
// output lacks what the marker expects.
func runBlock(t *testing.T, dir string, b marked, st *stack) {
	t.Helper()
	text, out, err := runMarked(t.Context(), dir, t.TempDir(), b, st)
	if err != nil {
		t.Errorf("%s: %v\n--- the block as run:\n%s--- its output:\n%s", b.block, err, text, out)
		return
	}
	t.Logf("%s: ok\n--- the block as run:\n%s--- its output:\n%s", b.block, text, out)
}

// runMarked runs a run block in dir (tmp is its TMPDIR), against st for a stack block,
// and returns the script as run (addresses rewritten), its output, and what went wrong.
func runMarked(ctx context.Context, dir, tmp string, b marked, st *stack) (text, out string, err error) {
	ports := map[string]string{}
	env := baseEnv(tmp)
	if b.Stack {
		if err := st.settle(ctx); err != nil {
			return "", "", err
		}
		ports = st.ports()
		env = append(env, st.env()...)
	}
	text, err = rewriteAddrs(script(b.block), ports)
	if err != nil {
		return text, "", err
	}
	out, err = blockRun{Dir: dir, Script: text, Env: append(env, b.Env...), Timeout: b.Timeout, Until: b.Until}.run()
	if err != nil {
		return text, out, err
	}
	rest := out
	for i, e := range b.Expect { // in order: expect=A expect=A is A twice
		j := strings.Index(rest, e)
		if j < 0 {
			if i > 0 {
				return text, out, fmt.Errorf("its output lacks %q after %q", e, b.Expect[i-1])
			}
			return text, out, fmt.Errorf("its output lacks %q", e)
		}
		rest = rest[j+len(e):]
	}
	return text, out, nil
}

// copyRepo copies the files git knows (tracked, and untracked but not ignored) of the
// work tree to a temporary directory: the blocks run there.
func copyRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range bytes.Split(bytes.TrimRight(list, "\x00"), []byte{0}) {
		src, dst := filepath.Join(root, string(name)), filepath.Join(dir, string(name))
		fi, err := os.Lstat(src)
		if err != nil {
			continue // deleted in the work tree
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, dst, fi); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(src, dst string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, fi.Mode().Perm())
}
