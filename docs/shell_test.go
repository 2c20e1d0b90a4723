package docs_test

import (
	"strings"
)

// Which blocks are shell: those labelled sh, bash, shell, console or shell-session, and
// the unlabelled (or text) ones that look like commands: a line starting with "$ " (a
// transcript), or a first line whose first word is a command people paste (make, go,
// curl, kubectl, …, a ./ or scripts/ path, or NAME=value before one). Other languages
// (json, go, yaml) and unlabelled diagrams or output are not.
var (
	shellLangs      = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "shell-session": true}
	transcriptLangs = map[string]bool{"console": true, "shell-session": true}
	plainLangs      = map[string]bool{"": true, "text": true, "txt": true, "plaintext": true}
	commandWords    = map[string]bool{
		"make": true, "go": true, "curl": true, "kubectl": true, "docker": true, "git": true, "nats": true,
		"bash": true, "sh": true, "export": true, "cd": true, "cp": true, "sed": true, "jq": true, "kustomize": true,
		"helm": true, "apt-get": true, "sudo": true, "promtool": true, "cat": true,
	}
)

func isShell(b block) bool {
	lang := b.Lang()
	if shellLangs[lang] {
		return true
	}
	if !plainLangs[lang] {
		return false
	}
	if isTranscript(b.Body) {
		return true
	}
	for _, l := range b.Body {
		if strings.TrimSpace(l) == "" {
			continue
		}
		return looksLikeCommand(l)
	}
	return false
}

func looksLikeCommand(line string) bool {
	for _, w := range strings.Fields(line) {
		switch {
		case envName.MatchString(w):
			continue // VAR=value before the command
		case commandWords[w], strings.HasPrefix(w, "./"), strings.HasPrefix(w, "scripts/"):
			return true
		}
		return false
	}
	return false
}

func isTranscript(body []string) bool {
	for _, l := range body {
		if strings.HasPrefix(l, "$ ") {
			return true
		}
	}
	return false
}

// script is the shell text of a shell block: all of it, or in a transcript the lines
// after "$ " (and their continuation lines), without the output.
func script(b block) string {
	if !transcriptLangs[b.Lang()] && !isTranscript(b.Body) {
		return strings.Join(b.Body, "\n") + "\n"
	}
	var out []string
	cont := false
	for _, l := range b.Body {
		switch {
		case cont:
			out = append(out, l)
		case strings.HasPrefix(l, "$ "):
			out = append(out, strings.TrimPrefix(l, "$ "))
		default:
			continue
		}
		cont = strings.HasSuffix(l, "\\")
	}
	return strings.Join(out, "\n") + "\n"
}

// commands splits a shell script into simple commands, each its words, for the static
// checks: quotes removed, comments dropped, lines joined at a trailing backslash, split
// at | ; & && || ( ) $( and newlines, leading NAME=value and export dropped. A word
// holding an expansion keeps its $ (the checks skip it). Not a shell: good enough to find
// make targets, go packages and paths.
func commands(src string) [][]string {
	var (
		cmds [][]string
		cmd  []string
		word strings.Builder
		in   bool
	)
	endWord := func() {
		if in {
			cmd = append(cmd, word.String())
			word.Reset()
			in = false
		}
	}
	endCmd := func() {
		endWord()
		for len(cmd) > 0 && (envName.MatchString(cmd[0]) || cmd[0] == "export") {
			cmd = cmd[1:]
		}
		if len(cmd) > 0 {
			cmds = append(cmds, cmd)
		}
		cmd = nil
	}
	rs := []rune(src)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\' && i+1 < len(rs):
			i++
			if rs[i] != '\n' {
				word.WriteRune(rs[i])
				in = true
			}
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			word.WriteString(string(rs[i+1 : min(j, len(rs))]))
			i, in = j, true
		case r == '"':
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			word.WriteString(string(rs[i+1 : min(j, len(rs))]))
			i, in = j, true
		case r == '#' && !in:
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			endCmd()
		case r == '$' && i+1 < len(rs) && rs[i+1] == '(':
			endCmd()
			i++
		case strings.ContainsRune("|;&()\n", r):
			endCmd()
		case r == ' ' || r == '\t':
			endWord()
		default:
			word.WriteRune(r)
			in = true
		}
	}
	endCmd()
	return cmds
}
