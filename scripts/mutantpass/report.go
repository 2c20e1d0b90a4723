package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// report is the part of gremlins' JSON report (internal/report/internal) this
// program reads. Statuses are gremlins': KILLED, LIVED, NOT COVERED, TIMED OUT,
// NOT VIABLE.
type report struct {
	Files          []reportFile `json:"files"`
	Efficacy       float64      `json:"test_efficacy"`
	Coverage       float64      `json:"mutations_coverage"`
	Killed         int          `json:"mutants_killed"`
	Lived          int          `json:"mutants_lived"`
	NotCovered     int          `json:"mutants_not_covered"`
	ElapsedSeconds float64      `json:"elapsed_time"`
}

type reportFile struct {
	Name      string   `json:"file_name"`
	Mutations []mutant `json:"mutations"`
}

type mutant struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// pass is what the second pass writes beside gremlins' report (<pkg>.pass.json):
// the not covered mutants it ran, with their new status.
type pass struct {
	Package        string       `json:"package"`
	Files          []reportFile `json:"files"`
	ElapsedSeconds float64      `json:"elapsed_time"`
}

const (
	killed     = "KILLED"
	lived      = "LIVED"
	notCovered = "NOT COVERED"
	timedOut   = "TIMED OUT"
	notViable  = "NOT VIABLE"
)

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// counts are a package's mutants by status.
type counts struct{ killed, lived, notCovered, timedOut int }

func (c counts) efficacy() float64 {
	if c.killed+c.lived == 0 {
		return 0
	}
	return 100 * float64(c.killed) / float64(c.killed+c.lived)
}

// coverage is gremlins' mutator coverage: (killed + lived) / (killed + lived + not
// covered); timed out and not viable mutants count in neither.
func (c counts) coverage() float64 {
	if c.killed+c.lived+c.notCovered == 0 {
		return 0
	}
	return 100 * float64(c.killed+c.lived) / float64(c.killed+c.lived+c.notCovered)
}

func count(files []reportFile) counts {
	var c counts
	for _, f := range files {
		for _, m := range f.Mutations {
			switch m.Status {
			case killed:
				c.killed++
			case lived:
				c.lived++
			case notCovered:
				c.notCovered++
			case timedOut:
				c.timedOut++
			}
		}
	}
	return c
}

// combine returns gremlins' files with the second pass's statuses in place of
// NOT COVERED where the pass ran the mutant.
func combine(g report, p pass) []reportFile {
	ran := map[string]string{}
	key := func(f string, m mutant) string {
		return fmt.Sprintf("%s:%d:%d:%s", f, m.Line, m.Column, m.Type)
	}
	for _, f := range p.Files {
		for _, m := range f.Mutations {
			ran[key(f.Name, m)] = m.Status
		}
	}
	out := make([]reportFile, 0, len(g.Files))
	for _, f := range g.Files {
		nf := reportFile{Name: f.Name}
		for _, m := range f.Mutations {
			if s, ok := ran[key(f.Name, m)]; ok && m.Status == notCovered {
				m.Status = s
			}
			nf.Mutations = append(nf.Mutations, m)
		}
		out = append(out, nf)
	}
	return out
}

// summary writes the table of docs/TESTING.md ("Last report") for pkgs from the
// reports in dir: gremlins' numbers, then the numbers with the second pass, then
// every mutant that lived or is still not covered.
func summary(w io.Writer, dir string, pkgs []string) error {
	fmt.Fprintln(w, "| package | killed | lived | not covered | timed out | efficacy | mutator coverage | time | second pass: killed | lived | not covered | timed out | efficacy | mutator coverage | time |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	left := map[string][]string{}
	for _, name := range pkgs {
		var g report
		if err := readJSON(filepath.Join(dir, name+".json"), &g); err != nil {
			fmt.Fprintf(w, "| %s | (no report: see %s) |\n", name, filepath.Join(dir, name+".log"))
			continue
		}
		var p pass
		if err := readJSON(filepath.Join(dir, name+".pass.json"), &p); err != nil && !os.IsNotExist(err) {
			return err
		}
		gc := count(g.Files)
		files := combine(g, p)
		cc := count(files)
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %.2f%% | %.2f%% | %s | %d | %d | %d | %d | %.2f%% | %.2f%% | %s |\n",
			name, gc.killed, gc.lived, gc.notCovered, gc.timedOut, gc.efficacy(), gc.coverage(), seconds(g.ElapsedSeconds),
			cc.killed, cc.lived, cc.notCovered, cc.timedOut, cc.efficacy(), cc.coverage(), seconds(p.ElapsedSeconds))
		for _, f := range files {
			for _, m := range f.Mutations {
				if m.Status == lived || m.Status == notCovered {
					left[name] = append(left[name], fmt.Sprintf("  %s/%s:%d:%d %s %s", name, f.Name, m.Line, m.Column, m.Type, m.Status))
				}
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Lived, and not covered after the second pass:")
	for _, name := range pkgs {
		for _, l := range left[name] {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

func seconds(s float64) string {
	if s == 0 {
		return "-"
	}
	return fmt.Sprintf("%d s", int(s+0.5))
}
