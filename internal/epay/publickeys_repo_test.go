package epay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The scan of TestEverySecretTheRepositoryPublishesIsRefused: deliberately simple.
//
// Files: every file git knows (tracked, and untracked but not ignored) named *.md, *.go,
// *.yaml, *.yml, *.sh, *.env, *.conf, Makefile or Dockerfile.
//
// Secret settings, by name alone, so that a new one is scanned without anyone telling
// the test: an environment variable whose name ends in _KEY, _KEYS, _SECRET or _PASSWORD;
// a flag whose name ends in -key, -keys, -secret or -password; a Go identifier ending in
// Key, Keys, Secret or Password, or named keys, secret or password (minus
// notSecretIdents); an Authorization "Bearer" token with a digit or a '-'.
//
// Assignments (a value is what follows, up to white space or the closing quote):
//
//	NAME=value  NAME='value'  NAME="value"      shell, .env, Makefile, Go strings "NAME=value"
//	NAME: value  "NAME": "value"               YAML, JSON, Go map literals
//	"NAME", "value"  m["NAME"] = "value"       Go []string{"NAME", "value"} pairs, map writes
//	- name: NAME / value: value                Kubernetes env entries (on the next line)
//	-flag value  -flag=value  "-flag", "value" command lines, Go argument lists
//	Ident = "value"  Ident: "value"  Ident := "value"  Ident = Secret("value")   Go
//	Ident: []epayapi.Secret{"value", "value"}  Ident: []byte("value")            Go
//	Authorization: Bearer value                curl examples, Go test requests
//
// In .go files only quoted values count (a bare word is an identifier, not a secret), and
// a value followed by ':' (a map's key) or '+' (a part of a concatenation) is skipped.
//
// Not secrets (placeholders): a value holding any of $ < > { } ( ) [ ] % | ? … or "...",
// or that is a variable's name (EPAY_SHARDS). A value is a list of entries separated by
// commas; the secret of an entry is what follows its last ':' ("KID:secret",
// "name:scope:key"); one shorter than 4 characters, or without a letter or digit, is
// none (words of prose; no service takes a key that short).
//
// What it misses (a multiple assignment, a literal passed to a function) goes into
// publicSecrets by hand. A key a test makes at run time is published nowhere.

var scannedFiles = regexp.MustCompile(`(\.(md|go|ya?ml|sh|env|conf)|(^|/)(Makefile|Dockerfile))$`)

const (
	envName  = `[A-Z][A-Z0-9_]*_(?:KEY|KEYS|SECRET|PASSWORD)`
	flagName = `[a-z][a-z0-9-]*-(?:key|keys|secret|password)`
	goIdent  = `[A-Za-z0-9_]*(?:Key|Keys|Secret|Password)|keys|secret|password`
	// value is quoted, or runs to white space, a quote or a closing bracket.
	value    = `('[^']*'|"[^"]*"|[^\s"'` + "`" + `;)\]}]*)`
	literals = `("[^"]*"(?:\s*,\s*"[^"]*")*)`
	// then is what follows a value: a ':' makes it a map key, a '+' a part of one.
	then = `(\s*[:+])?`
)

// assignments: the first group is the setting, the second its value, the third what
// follows the value.
var assignments = []*regexp.Regexp{
	regexp.MustCompile(`\b(` + envName + `)=` + value + `()`),
	regexp.MustCompile(`\b(` + envName + `)"?:[ \t]*` + value + then),
	regexp.MustCompile(`"(` + envName + `)",\s*` + value + then),
	regexp.MustCompile(`\["(` + envName + `)"\]\s*=\s*` + value + then),
	regexp.MustCompile(`\b(Bearer) ([A-Za-z0-9._~+/=-]*[0-9-][A-Za-z0-9._~+/=-]*)()`),
	regexp.MustCompile(`(?:^|[\s"'` + "`" + `(\[{,])-(` + flagName + `)(?:=|"?,?[ \t]+)` + value + then),
	regexp.MustCompile(`\b(` + goIdent + `)\s*(?::=|=|:)\s*(?:(?:epayapi\.)?Secret\(|\[\]byte\(|\[\](?:epayapi\.)?Secret\{|\[\]string\{)?` + literals + then),
}

// goIdentAssignment is the last of assignments.
const goIdentAssignment = 6

// k8sEnvName is a Kubernetes env entry's name; its value is on the next line.
var (
	k8sEnvName  = regexp.MustCompile(`^\s*-\s*name:\s*"?(` + envName + `)"?\s*$`)
	k8sEnvValue = regexp.MustCompile(`^\s*value:\s*` + value)
)

// notSecretIdents are Go identifiers that end like a secret but hold none.
var notSecretIdents = map[string]bool{
	"Key": true, "Keys": true, // a field of that name is a map's or a bucket's key
	"natsServerConfKey": true, // a config map's key
	"seqKey":            true, // a NATS KV key
}

var (
	goLiteral    = regexp.MustCompile(`"[^"]*"`)
	variableName = regexp.MustCompile(`^[A-Z][A-Z0-9]*_[A-Z0-9_]+$`)
)

// placeholder reports whether v stands for a value rather than being one: it holds one
// of $ < > { } ( ) [ ] % | ? … or "...", or is a variable's name.
func placeholder(v string) bool {
	return strings.ContainsAny(v, "$<>{}()[]%|?…") || strings.Contains(v, "...") || variableName.MatchString(v)
}

// secretsOf splits a value into its secrets: entries separated by commas, each secret
// what follows the entry's last ':'. Shorter than 4 characters or without a letter or
// digit, it is none (prose, punctuation; no service takes keys that short).
func secretsOf(v string) []string {
	if placeholder(v) {
		return nil
	}
	var out []string
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if i := strings.LastIndexByte(entry, ':'); i >= 0 {
			entry = entry[i+1:]
		}
		if len(entry) >= 4 && strings.IndexFunc(entry, func(r rune) bool {
			return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		}) >= 0 {
			out = append(out, entry)
		}
	}
	return out
}

// mayAssign reports whether line may hold an assignment the scan looks for (the
// patterns are slow on every line of the repository).
func mayAssign(line string) bool {
	for _, w := range []string{"KEY", "Key", "key", "SECRET", "Secret", "secret", "PASSWORD", "Password", "password", "Bearer"} {
		if strings.Contains(line, w) {
			return true
		}
	}
	return false
}

// finding is one secret the scan found.
type finding struct {
	where, name, secret string
}

// scanRepository returns every secret assigned in the repository's files.
func scanRepository(t *testing.T) []finding {
	t.Helper()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (the scan needs the git work tree)", err)
	}
	dir := strings.TrimSpace(string(root))
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var found []finding
	seen := map[string]bool{}
	for _, f := range strings.Split(string(out), "\x00") {
		if !scannedFiles.MatchString(f) || seen[f] {
			continue
		}
		seen[f] = true
		b, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, scanFile(f, b)...)
	}
	if len(found) == 0 {
		t.Fatal("the scan found no secret at all: is it looking at the repository?")
	}
	return found
}

// scanFile returns the secrets assigned in one file's content.
func scanFile(name string, content []byte) []finding {
	goFile := strings.HasSuffix(name, ".go")
	var found []finding
	add := func(line int, setting string, values ...string) {
		for _, v := range values {
			for _, s := range secretsOf(v) {
				found = append(found, finding{where: name + ":" + strconv.Itoa(line), name: setting, secret: s})
			}
		}
	}
	// unquote returns the values of raw: a quoted value without its quotes; in Go, only
	// quoted values (a bare word there is an identifier).
	unquote := func(raw string) []string {
		if len(raw) >= 2 && (raw[0] == '"' || raw[0] == '\'') && raw[len(raw)-1] == raw[0] {
			return []string{raw[1 : len(raw)-1]}
		}
		if goFile || raw != "" && (raw[0] == '"' || raw[0] == '\'') {
			return nil
		}
		return []string{raw}
	}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var k8sName string
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if k8sName == "" && !mayAssign(line) {
			continue
		}
		if k8sName != "" {
			if m := k8sEnvValue.FindStringSubmatch(line); m != nil {
				add(n, k8sName, unquote(m[1])...)
			}
			k8sName = ""
		}
		if m := k8sEnvName.FindStringSubmatch(line); m != nil {
			k8sName = m[1]
		}
		for i, re := range assignments {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				setting, raw, then := m[1], m[2], m[3]
				switch {
				case then != "":
					// a map key ("FLAG": "NAME", ...) or a part of a concatenation
				case i == 0 && goFile:
					// NAME=value inside a Go string: the value ends at its closing quote
					if !strings.HasPrefix(raw, "\"") {
						add(n, setting, strings.Trim(raw, "'"))
					}
				case i == goIdentAssignment:
					if !notSecretIdents[setting] && !strings.HasPrefix(setting, "Err") {
						for _, lit := range goLiteral.FindAllString(raw, -1) {
							add(n, setting, lit[1:len(lit)-1])
						}
					}
				default:
					add(n, setting, unquote(raw)...)
				}
			}
		}
	}
	return found
}

// Every secret assigned anywhere in the repository is public, and production refuses it.
func TestEverySecretTheRepositoryPublishesIsRefused(t *testing.T) {
	missing := map[string][]string{}
	for _, f := range scanRepository(t) {
		if IsPublicSecret([]byte(f.secret)) {
			continue
		}
		missing[f.secret] = append(missing[f.secret], f.where+" ("+f.name+")")
	}
	var lines []string
	for s, where := range missing {
		lines = append(lines, fmt.Sprintf("%q at %s", s, strings.Join(where, ", ")))
	}
	sort.Strings(lines)
	for _, l := range lines {
		t.Errorf("a secret published in the repository is not refused in prod: add it to publicSecrets (publickeys.go): %s", l)
	}
}

// The scan's patterns and placeholders, on the forms the repository uses (the secrets
// start with PublicSecretPrefix: the scan reads this file too).
func TestScanFindsTheFormsTheRepositoryUses(t *testing.T) {
	tests := []struct {
		file, content string
		want          []string
	}{
		{"README.md", "export EPAY_SECRET_KEYS='D:dev-only-shell-quoted-0001'", []string{"dev-only-shell-quoted-0001"}},
		{"x.sh", "INITIATOR_API_KEYS=dev-only-bare-key-0001,dev-only-second-key-0002 make run", []string{"dev-only-bare-key-0001", "dev-only-second-key-0002"}},
		{"x.env", `WORKER_STATUS_KEY="dev-only-double-quoted-0001"`, []string{"dev-only-double-quoted-0001"}},
		{"x.yaml", `  WORKER_READ_KEYS: "initiator:read:dev-only-yaml-read-key-0001"`, []string{"dev-only-yaml-read-key-0001"}},
		{"x.yaml", "        - name: INITIATOR_WORKER_KEY\n          value: dev-only-k8s-env-value-0001", []string{"dev-only-k8s-env-value-0001"}},
		{"x.go", `env := map[string]string{"EPAY_CLIENT_SECRET": "dev-only-go-map-value-0001"}`, []string{"dev-only-go-map-value-0001"}},
		{"x.go", `[]string{"EPAY_SECRET_KEYS", "A:dev-only-go-pair-value-0001", "EPAY_ENV", "prod"}`, []string{"dev-only-go-pair-value-0001"}},
		{"x.go", `m["NATS_PASSWORD"] = "dev-only-go-index-value-0001"`, []string{"dev-only-go-index-value-0001"}},
		{"x.go", `[]string{"NATS_URL=nats://x", "EPAY_SECRET_KEYS=B:dev-only-go-string-value-0001"}`, []string{"dev-only-go-string-value-0001"}},
		{"x.go", `args := []string{"-api-keys", "dev-only-go-flag-value-0001"}`, []string{"dev-only-go-flag-value-0001"}},
		{"x.md", "ingest -secret-keys A:dev-only-md-flag-value-0001 -epay-env sandbox", []string{"dev-only-md-flag-value-0001"}},
		{"x.sh", "worker -status-key=dev-only-flag-equals-value-0001", []string{"dev-only-flag-equals-value-0001"}},
		{"x.go", `const DevAPIKey = "dev-only-go-const-value-0001"`, []string{"dev-only-go-const-value-0001"}},
		{"x.go", `TestClientSecret = Secret("dev-only-go-secret-value-0001")`, []string{"dev-only-go-secret-value-0001"}},
		{"x.go", `APIKeys: []epayapi.Secret{"dev-only-go-list-value-0001", "dev-only-go-list-value-0002"}`, []string{"dev-only-go-list-value-0001", "dev-only-go-list-value-0002"}},
		{"x.md", "curl -H 'Authorization: Bearer dev-only-md-bearer-value-0001' http://x", []string{"dev-only-md-bearer-value-0001"}},
		// Placeholders and look-alikes: nothing.
		{"x.yaml", `  EPAY_SECRET_KEYS: "B:<32+ random letters and digits>"`, nil},
		{"x.sh", `EPAY_SECRET_KEYS="A:$(random)"`, nil},
		{"x.sh", `WORKER_READ_KEYS=${WORKER_READ_KEYS:-initiator:read:$INITIATOR_WORKER_KEY}`, nil},
		{"x.md", "EPAY_CLIENT_ID=... EPAY_CLIENT_SECRET=... EPAY_TERMINAL=...", nil},
		{"x.md", "-nats-password … or NATS_PASSWORD_FILE", nil},
		{"x.go", `"secret-keys": "EPAY_SECRET_KEYS", "shards": "EPAY_SHARDS"`, nil},
		{"x.go", `env := map[string]string{"EPAY_SECRET_KEYS": keys}`, nil},
		{"x.go", `"EPAY_SECRET_KEYS=" + keySpec`, nil},
		{"x.go", `check(t, "NATS_PASSWORD", "nats-"+string(role))`, nil},
		{"x.go", `fmt.Sprintf("-nats-password %s", pw)`, nil},
		{"x.go", `ErrPublicKey = errors.New("signing key is public")`, nil},
		{"x.go", `w.Header().Set("WWW-Authenticate", "Bearer realm")`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.content, func(t *testing.T) {
			var got []string
			for _, f := range scanFile(tt.file, []byte(strings.ReplaceAll(tt.content, `\n`, "\n"))) {
				got = append(got, f.secret)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("found %q, want %q", got, tt.want)
			}
		})
	}
}

// Every listed secret is refused, and the refusal names the setting, never the secret.
func TestCheckSecretRefusesEveryListedSecretWithoutQuotingIt(t *testing.T) {
	same := CheckSecret("INITIATOR_API_KEYS entry 1", PublicSecretPrefix+"-x")
	for _, s := range append(publicSecrets, "dev-only-anything", " dev-merchant-key\n") {
		err := CheckSecret("INITIATOR_API_KEYS entry 1", s)
		if !errors.Is(err, ErrPublicSecret) {
			t.Errorf("%q: %v, want ErrPublicSecret", s, err)
			continue
		}
		// The same message for every secret: it cannot hold the secret.
		if msg := err.Error(); msg != same.Error() || !strings.Contains(msg, "INITIATOR_API_KEYS entry 1") || strings.Contains(msg, "\n") {
			t.Errorf("%q: message %q does not name the setting, quotes the secret or is not one line", s, msg)
		}
	}
	for _, s := range []string{"", "a-secret-of-ones-own-7f3a9c2e51b4", "my-dev-only-secret-0123456789"} {
		if err := CheckSecret("WORKER_STATUS_KEY", s); err != nil {
			t.Errorf("%q: %v, want nil", s, err)
		}
	}
}
