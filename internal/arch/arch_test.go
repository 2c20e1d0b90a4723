package arch

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/epayflow/epayflow"

// heavy are the outside modules a package may import only where its row says so.
var heavy = map[string]string{
	"github.com/ThreeDotsLabs/watermill": "watermill",
	"go.etcd.io/bbolt":                   "bbolt",
	"github.com/nats-io/nats-server":     "nats-server",
	"github.com/chromedp":                "chromedp",
}

type rule struct {
	mayImport map[string]bool // short names
	outside   map[string]bool
}

// rules reads the package table of docs/ARCHITECTURE.md.
func rules(t *testing.T) map[string]rule {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rule{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		if len(cols) != 4 {
			t.Fatalf("ARCHITECTURE.md: a package row needs 4 columns: %s", line)
		}
		name := strings.Trim(strings.TrimSpace(cols[0]), "`")
		if _, dup := out[name]; dup {
			t.Fatalf("ARCHITECTURE.md: %s has two rows", name)
		}
		out[name] = rule{mayImport: names(cols[2]), outside: names(cols[3])}
	}
	if len(out) < 20 {
		t.Fatalf("ARCHITECTURE.md: only %d package rows found", len(out))
	}
	return out
}

func names(col string) map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Split(col, ",") {
		if n = strings.Trim(strings.TrimSpace(n), "`"); n != "" && n != "-" {
			m[n] = true
		}
	}
	return m
}

// short is how the table names a package: its path in the module, without internal/.
func short(path string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	return strings.TrimPrefix(rel, "internal/")
}

// golist returns, for every package of the module, what `go list` says of field.
func golist(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	res := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, list, _ := strings.Cut(line, "|")
		res[path] = strings.FieldsFunc(list, func(r rune) bool { return r == ',' })
	}
	return res
}

// Every package has a row, every row a package, and every import of the project or of
// a heavy outside module is one its row allows.
func TestImportsFollowTheArchitecture(t *testing.T) {
	rs := rules(t)
	pkgs := golist(t, "-f", "{{.ImportPath}}|{{join .Imports \",\"}}", "./...")
	seen := map[string]bool{}
	for path, imports := range pkgs {
		name := short(path)
		seen[name] = true
		r, ok := rs[name]
		if !ok {
			t.Errorf("package %s has no row in docs/ARCHITECTURE.md", name)
			continue
		}
		for _, imp := range imports {
			if strings.HasPrefix(imp, module+"/") {
				if dep := short(imp); !r.mayImport[dep] {
					t.Errorf("%s imports %s, which its row in docs/ARCHITECTURE.md does not allow", name, dep)
				}
				continue
			}
			for prefix, h := range heavy {
				if (imp == prefix || strings.HasPrefix(imp, prefix+"/")) && !r.outside[h] {
					t.Errorf("%s imports %s (%s), which its row in docs/ARCHITECTURE.md does not allow", name, imp, h)
				}
			}
		}
	}
	for name := range rs {
		if !seen[name] {
			t.Errorf("docs/ARCHITECTURE.md has a row for %s, which is not a package", name)
		}
	}
}

// The services' binaries carry only what they need: the ingest and the initiator hold no
// database and no Watermill, not even through another package; no service carries the
// test tooling.
func TestServicesDependOnNoToolingNorTheWorkersStore(t *testing.T) {
	for _, c := range []struct {
		cmd    string
		banned []string
	}{
		{"./cmd/ingest", []string{"go.etcd.io/bbolt", "github.com/ThreeDotsLabs/watermill", module + "/internal/bolt", module + "/internal/worker"}},
		{"./cmd/initiator", []string{"go.etcd.io/bbolt", "github.com/ThreeDotsLabs/watermill", module + "/internal/bolt", module + "/internal/worker"}},
		{"./cmd/worker", nil},
	} {
		all := golist(t, "-deps", "-f", "{{.ImportPath}}|", c.cmd)
		banned := append(c.banned, "github.com/nats-io/nats-server", "github.com/chromedp",
			module+"/internal/sandbox", module+"/internal/epaytest", module+"/internal/devstack", module+"/internal/chaos",
			module+"/internal/natsembed", module+"/internal/proctest", module+"/internal/contracttest", module+"/bench")
		for dep := range all {
			if slices.ContainsFunc(banned, func(b string) bool { return dep == b || strings.HasPrefix(dep, b+"/") }) {
				t.Errorf("%s depends on %s", c.cmd, dep)
			}
		}
	}
}
