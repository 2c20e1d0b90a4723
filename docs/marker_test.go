package docs_test

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// marker is what the "<!-- docs: … -->" comment above a shell block says:
//
//	run [stack] [until=TEXT] [expect=TEXT]... [env=NAME=VALUE]... [timeout=DURATION]
//	run-by REF...
//	manual REASON [note]
//
// Values with spaces are quoted as in the shell ('…' or "…").
type marker struct {
	Kind    string   // "run", "run-by" or "manual"
	Stack   bool     // run against a local stack the test starts (make run's)
	Until   string   // a long-running command: run until its output has this, then stop it
	Expect  []string // the output has each, in this order
	Env     []string // NAME=VALUE for the block
	Timeout time.Duration
	Refs    []string // run-by: what runs these commands
	Reason  string   // manual: one of manualReasons
}

// manualReasons are the only reasons a shell block may stay unrun: what a test on a
// developer's machine or in CI cannot have.
var manualReasons = map[string]string{
	"cluster":  "a Kubernetes cluster (kubectl against one)",
	"docker":   "a Docker engine (docker build, docker compose)",
	"epay":     "ePay's own test or production environment: its hosts, real credentials, a public URL ePay reaches",
	"nats-cli": "the nats CLI with credentials the reader pastes (.ci/run installs the CLI; docs.TestRunbookNATSCommandsRunAsAdmin runs the runbook's nats commands)",
}

// reasonEvidence: a manual block shows its reason (kubectl; docker or the compose
// deployment; a nats command; ePay named), so that a runnable block cannot hide behind
// any reason.
var reasonEvidence = map[string]*regexp.Regexp{
	"cluster":  regexp.MustCompile(`\bkubectl\b`),
	"docker":   regexp.MustCompile(`\bdocker\b|\bmake image\b|\bcompose\b`),
	"epay":     regexp.MustCompile(`(?i)\bepay`),
	"nats-cli": regexp.MustCompile(`(?m)(^|[\s;|&(])nats\s`),
}

const defaultTimeout = 3 * time.Minute // the first go run of a block may compile the stack

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func parseMarker(text string) (marker, error) {
	words, err := splitWords(text)
	if err != nil {
		return marker{}, err
	}
	if len(words) == 0 {
		return marker{}, fmt.Errorf("empty docs marker: want run, run-by or manual")
	}
	m := marker{Kind: words[0], Timeout: defaultTimeout}
	args := words[1:]
	switch m.Kind {
	case "run":
		return m, m.runOptions(args)
	case "run-by":
		if len(args) == 0 {
			return m, fmt.Errorf("run-by names nothing: give what runs these commands (pkg/dir.TestName, Makefile:target or a file)")
		}
		m.Refs = args
		return m, nil
	case "manual":
		if len(args) == 0 || manualReasons[args[0]] == "" {
			return m, fmt.Errorf("manual needs one of the reasons %s", reasonList())
		}
		m.Reason = args[0]
		return m, nil
	}
	return m, fmt.Errorf("docs marker %q: want run, run-by or manual", m.Kind)
}

func (m *marker) runOptions(args []string) error {
	for _, a := range args {
		key, val, _ := strings.Cut(a, "=")
		switch {
		case a == "stack":
			m.Stack = true
		case key == "until" && val != "":
			m.Until = val
		case key == "expect" && val != "":
			m.Expect = append(m.Expect, val)
		case key == "env" && envName.MatchString(val):
			m.Env = append(m.Env, val)
		case key == "timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return fmt.Errorf("run: timeout=%q: want a duration such as 90s", val)
			}
			m.Timeout = d
		default:
			return fmt.Errorf("run: unknown option %q (stack, until=, expect=, env=NAME=VALUE, timeout=)", a)
		}
	}
	return nil
}

func reasonList() string {
	var s []string
	for _, r := range []string{"cluster", "docker", "epay", "nats-cli"} {
		s = append(s, r+" ("+manualReasons[r]+")")
	}
	return strings.Join(s, ", ")
}

// splitWords splits s at white space, with shell quoting: '…' literally, "…" with \" and
// \\, quotes anywhere in a word.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // a word has started
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\'):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c in %q", quote, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
