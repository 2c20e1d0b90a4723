// Package docs_test runs the commands of README.md and docs/*.md (issue 13): every shell
// block is marked, just above it, with what runs it, and the blocks marked run are run
// here. How to mark a block: README.md, "Commands in the docs".
package docs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// block is a fenced code block of a Markdown file.
type block struct {
	File string   // as given to parseBlocks: README.md, docs/X.md
	Line int      // of the opening fence, from 1
	Info string   // the info string: "sh", "json", ""
	Body []string // its lines, without the fence's indentation
	// Marker is the text of a "<!-- docs: … -->" comment on the last non-blank line
	// above the fence ("" when there is none), MarkerLine its line.
	Marker     string
	MarkerLine int
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Lang is the first word of the info string, in lower case.
func (b block) Lang() string {
	f := strings.Fields(b.Info)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

var (
	openFence = regexp.MustCompile("^( *)(`{3,}|~{3,})(.*)$")
	markerRe  = regexp.MustCompile(`^<!--\s*docs:(.*?)-->$`)
)

// parseBlocks finds the fenced code blocks of a CommonMark document: a fence is three or
// more backticks or tildes (a backtick fence's info string has no backtick), it closes on
// a line of the same character at least as long with nothing else; a fence may be
// indented (in a list item), and its content loses up to as many leading spaces. A fence
// left open is an error, as is a docs marker that no fence follows.
func parseBlocks(file string, src []byte) ([]block, error) {
	var (
		blocks     []block
		cur        *block
		fence      string
		indent     int
		lastText   string // the last non-blank line outside a block
		lastLine   int
		lineNo     int
		strayMarks []int
	)
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if cur != nil {
			t := strings.TrimLeft(line, " ")
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				blocks = append(blocks, *cur)
				cur, lastText = nil, ""
				continue
			}
			cur.Body = append(cur.Body, trimIndent(line, indent))
			continue
		}
		m := openFence.FindStringSubmatch(line)
		if m != nil && !(m[2][0] == '`' && strings.Contains(m[3], "`")) {
			cur = &block{File: file, Line: lineNo, Info: strings.TrimSpace(m[3])}
			fence, indent = m[2], len(m[1])
			if mm := markerRe.FindStringSubmatch(lastText); mm != nil {
				cur.Marker, cur.MarkerLine = strings.TrimSpace(mm[1]), lastLine
				strayMarks = strayMarks[:len(strayMarks)-1]
			}
			continue
		}
		if t := strings.TrimSpace(line); t != "" {
			lastText, lastLine = t, lineNo
			if markerRe.MatchString(t) {
				strayMarks = append(strayMarks, lineNo)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: the fence opened on line %d is never closed", cur, cur.Line)
	}
	if len(strayMarks) > 0 {
		return nil, fmt.Errorf("%s:%d: a docs marker that no code block follows (it goes on the line just above the fence)", file, strayMarks[0])
	}
	return blocks, nil
}

// trimIndent removes up to n leading spaces.
func trimIndent(line string, n int) string {
	i := 0
	for i < n && i < len(line) && line[i] == ' ' {
		i++
	}
	return line[i:]
}
