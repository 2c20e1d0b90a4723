package docs_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The tests of the docs test itself, on documents of testdata/ made to pass or fail.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func testRepo(t *testing.T) *repo {
	t.Helper()
	r, err := newRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseBlocksReadsFencesAsCommonMark(t *testing.T) {
	blocks, err := parseBlocks("fences.md", readTestdata(t, "fences.md"))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Line         int
		Info, Marker string
		Body         []string
		Shell        bool
	}
	var gots []got
	for _, b := range blocks {
		gots = append(gots, got{b.Line, b.Info, b.Marker, b.Body, isShell(b)})
	}
	want := []got{
		{4, "sh", "run", []string{"echo one"}, true},
		{8, `bash title="two"`, "", []string{"echo two"}, true},
		{12, "", "", []string{"```sh", "a fence inside a longer one is text", "```"}, false},
		{21, "sh", "manual cluster", []string{"kubectl get pods", "  indented more"}, true},
		{28, "", "", []string{"$ make chaos", "chaos: output", "$ echo a \\", "  continued", "more output"}, true},
		{36, "", "", []string{" initiator ──▶ NATS"}, false},
	}
	if !reflect.DeepEqual(gots, want) {
		t.Fatalf("blocks:\n%+v\nwant:\n%+v", gots, want)
	}
	if s := script(blocks[4]); s != "make chaos\necho a \\\n  continued\n" {
		t.Errorf("the transcript's script is %q: want its $ lines only", s)
	}
}

func TestParseBlocksRefusesAnOpenFenceAndAStrayMarker(t *testing.T) {
	for src, want := range map[string]string{
		"text\n```sh\necho never closed\n":                       "x.md:2: the fence opened on line 2 is never closed",
		"<!-- docs: run -->\n\ntext\n```sh\necho\n```\n":         "x.md:1: a docs marker that no code block follows",
		"```sh\necho\n```\n<!-- docs: manual cluster -->\nend\n": "x.md:4: a docs marker that no code block follows",
	} {
		if _, err := parseBlocks("x.md", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

// TestUnmarkedAndBadlyMarkedBlocksFail: what TestEveryShellBlockIsMarked reports, named
// by file and line.
func TestUnmarkedAndBadlyMarkedBlocksFail(t *testing.T) {
	blocks, errs := shellBlocks(testRepo(t), "testdata/marks.md", readTestdata(t, "marks.md"))
	assertErrors(t, errs, []string{
		"testdata/marks.md:4: a shell block without a docs marker",
		"testdata/marks.md:8: a shell block without a docs marker",
		`testdata/marks.md:13: a docs marker on a "json" block, which is not shell`,
		"testdata/marks.md:17: manual needs one of the reasons cluster (",
		"testdata/marks.md:23: manual cluster, but no command of the block needs a Kubernetes cluster",
		`testdata/marks.md:27: run: unknown option "sometimes"`,
	})
	if len(blocks) != 1 {
		t.Errorf("%d blocks with a valid marker, want 1 (manual cluster)", len(blocks))
	}
}

// TestStaticChecksFail: a block that cannot parse, names a missing make target, package,
// file or test, or a run-by whose file runs none of its commands.
func TestStaticChecksFail(t *testing.T) {
	_, errs := shellBlocks(testRepo(t), "testdata/static.md", readTestdata(t, "static.md"))
	assertErrors(t, errs, []string{
		"testdata/static.md:4: bash -n: exit status 2: bash: line 5: syntax error",
		"testdata/static.md:9: make no-such-target: the Makefile has no target no-such-target",
		"testdata/static.md:9: go run ./cmd/no-such-command: no Go package there",
		"testdata/static.md:9: scripts/no-such-script.sh: no such file in the repository",
		"testdata/static.md:18: run-by internal/worker.TestNoSuchTest: no func TestNoSuchTest in",
		"testdata/static.md:18: run-by .ci/run: .ci/run runs none of these commands as written",
		"testdata/static.md:18: run-by Makefile:no-such-target: the Makefile has no target no-such-target",
	})
}

func TestGoodBlocksPassTheChecks(t *testing.T) {
	blocks, errs := shellBlocks(testRepo(t), "testdata/good.md", readTestdata(t, "good.md"))
	assertErrors(t, errs, nil)
	if len(blocks) != 3 {
		t.Fatalf("%d blocks, want 3", len(blocks))
	}
	text, out, err := runMarked(t.Context(), t.TempDir(), t.TempDir(), blocks[0], nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(text, "8099") || !strings.Contains(out, "hello from 127.0.0.1:") {
		t.Errorf("127.0.0.1:8099 should run on a free port; ran:\n%s\nsaid:\n%s", text, out)
	}
}

// TestBrokenRunBlocksFail: each block of testdata/broken.md fails, for the reason its
// first line gives.
func TestBrokenRunBlocksFail(t *testing.T) {
	blocks, errs := shellBlocks(testRepo(t), "testdata/broken.md", readTestdata(t, "broken.md"))
	assertErrors(t, errs, nil)
	if len(blocks) != 7 {
		t.Fatalf("%d blocks, want 7", len(blocks))
	}
	for _, b := range blocks {
		want := strings.TrimPrefix(b.Body[0], "# want: ")
		start := time.Now()
		_, out, err := runMarked(t.Context(), t.TempDir(), t.TempDir(), b, nil)
		if err == nil || !strings.Contains(err.Error()+out, want) {
			t.Errorf("%s: error %v, output %q; want %q", b.block, err, out, want)
		}
		if b.Until != "" && time.Since(start) > time.Minute {
			t.Errorf("%s: took %v: a long-running command is stopped at its timeout", b.block, time.Since(start))
		}
	}
}

func TestRewriteAddrsPointsLocalAddressesAtTheTest(t *testing.T) {
	in := "curl localhost:8080/x http://127.0.0.1:8081 -addr 127.0.0.1:18080 localhost:18080 :8090 example.com:8080"
	out, err := rewriteAddrs(in, map[string]string{"8080": "127.0.0.1:1111", "8081": "127.0.0.1:2222"})
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^curl localhost:1111/x http://127\.0\.0\.1:2222 -addr 127\.0\.0\.1:(\d+) localhost:(\d+) :8090 example\.com:8080$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[1] == "18080" {
		t.Fatalf("rewritten: %q", out)
	}
}

func TestCommandsSplitsAScriptIntoSimpleCommands(t *testing.T) {
	src := `export A=1 B=2   # a comment
HASH=$(go run ./cmd/ingest sign t 1) && curl -s "http://x/$HASH" | jq .   # more
make run INITIATOR_ADDR=127.0.0.1:1 \
  DEVSTACK_DATA=var2; (cd deploy/k8s && kubectl apply -f 'a b.yaml') &
`
	want := [][]string{ // export A=1 B=2 is only assignments: no command
		{"go", "run", "./cmd/ingest", "sign", "t", "1"},
		{"curl", "-s", "http://x/$HASH"},
		{"jq", "."},
		{"make", "run", "INITIATOR_ADDR=127.0.0.1:1", "DEVSTACK_DATA=var2"},
		{"cd", "deploy/k8s"},
		{"kubectl", "apply", "-f", "a b.yaml"},
	}
	if got := commands(src); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands:\n%q\nwant:\n%q", got, want)
	}
}

// assertErrors: each of want is in one error, and every error is wanted.
func assertErrors(t *testing.T, errs []error, want []string) {
	t.Helper()
	used := make([]bool, len(errs))
	for _, w := range want {
		found := false
		for i, err := range errs {
			if !used[i] && strings.Contains(err.Error(), w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no error says %q", w)
		}
	}
	for i, err := range errs {
		if !used[i] {
			t.Errorf("unexpected: %v", err)
		}
	}
}
