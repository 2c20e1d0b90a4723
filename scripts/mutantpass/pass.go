package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// runner runs one package's tests, with or without a mutated file.
type runner struct {
	pkgDir      string        // the package, relative to the module root: internal/invoice
	tmp         string        // where the overlay and mutated files go
	timeout     time.Duration // per run; set from the first, unmutated run
	coefficient int
	log         io.Writer
}

// run runs `go test` on the package with file replaced by src (none if file is
// empty) and returns the mutant status that gives, as gremlins would: KILLED when a
// test fails, LIVED when all pass, TIMED OUT, NOT VIABLE when it does not build.
func (r *runner) run(ctx context.Context, file string, src []byte) (string, error) {
	args := []string{"test", "-count=1", "-failfast", "-cpu=1"}
	if file == "" {
		args = append(args, "-coverprofile", filepath.Join(r.tmp, "cover.out"))
	} else {
		overlay, err := r.overlay(file, src)
		if err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	timeout := r.timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	// the test binary's own bound, a little after ours: a hung test panics and dies
	args = append(args, "-timeout", (timeout + 5*time.Second).String(), "./"+r.pkgDir)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// go test starts the test binary as its child: end the whole group
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return timedOut, nil
	case err == nil:
		return lived, nil
	case !errors.As(err, &exit):
		return "", err
	case strings.Contains(out.String(), "[build failed]") || strings.Contains(out.String(), "[setup failed]"):
		return notViable, nil
	default:
		if file == "" {
			fmt.Fprintf(r.log, "%s", out.Bytes())
		}
		return killed, nil
	}
}

// overlay writes src as the mutated file and the -overlay JSON that puts it in
// file's place, and returns the JSON's path.
func (r *runner) overlay(file string, src []byte) (string, error) {
	abs, err := filepath.Abs(filepath.Join(r.pkgDir, file))
	if err != nil {
		return "", err
	}
	mutated := filepath.Join(r.tmp, "mutant.go")
	if err := os.WriteFile(mutated, src, 0o644); err != nil {
		return "", err
	}
	overlay := filepath.Join(r.tmp, "overlay.json")
	return overlay, writeJSON(overlay, map[string]any{"Replace": map[string]string{abs: mutated}})
}

// secondPass runs every NOT COVERED mutant of gremlins' report g for real and
// returns what became of each. One that lives although no test runs its code (a
// constant outside any function, a line never run) stays NOT COVERED.
func (r *runner) secondPass(ctx context.Context, name string, g report) (pass, error) {
	start := time.Now()
	status, err := r.run(ctx, "", nil)
	if err != nil {
		return pass{}, err
	}
	if status != lived {
		return pass{}, fmt.Errorf("%s: the tests do not pass without a mutant (%s)", r.pkgDir, status)
	}
	took := time.Since(start)
	r.timeout = time.Duration(r.coefficient) * took
	fmt.Fprintf(r.log, "%s: the tests take %s; %s per mutant at most\n", name, took.Round(time.Second), r.timeout.Round(time.Second))
	profile, err := readProfile(filepath.Join(r.tmp, "cover.out"))
	if err != nil {
		return pass{}, err
	}
	p := pass{Package: name}
	for _, f := range g.Files {
		src, err := os.ReadFile(filepath.Join(r.pkgDir, f.Name))
		if err != nil {
			return pass{}, err
		}
		out := reportFile{Name: f.Name}
		for _, m := range f.Mutations {
			if m.Status != notCovered {
				continue
			}
			mutated, err := mutate(src, m.Line, m.Column, m.Type)
			if err != nil {
				return pass{}, fmt.Errorf("%s/%s: %w (is the report of this version of the file?)", r.pkgDir, f.Name, err)
			}
			m.Status, err = r.run(ctx, f.Name, mutated)
			if err != nil {
				return pass{}, err
			}
			if m.Status == lived {
				// lived because wrong, or because no test runs it at all
				ran, err := reached(profile, f.Name, src, m.Line, m.Column)
				if err != nil {
					return pass{}, err
				}
				if !ran {
					m.Status = notCovered
				}
			}
			fmt.Fprintf(r.log, "%-11s %s at %s/%s:%d:%d\n", m.Status, m.Type, r.pkgDir, f.Name, m.Line, m.Column)
			out.Mutations = append(out.Mutations, m)
		}
		if len(out.Mutations) > 0 {
			p.Files = append(p.Files, out)
		}
	}
	p.ElapsedSeconds = time.Since(start).Seconds()
	return p, nil
}
