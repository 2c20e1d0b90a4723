// Command mutantpass is the second pass of the mutation testing (docs/TESTING.md,
// "Mutation testing"; scripts/mutation.sh runs it after gremlins).
//
// gremlins marks a mutant "not covered" when Go's coverage profile has no block that
// a test ran at its position. A switch's case expressions have no block of their own,
// so gremlins never runs their mutants although the tests take every branch. This
// pass reads gremlins' JSON report, applies each NOT COVERED mutant exactly as
// gremlins would (its table of operators, at the reported line and column) to a copy
// of the file, runs the package's tests on it with `go test -overlay` (the working
// tree is never written), and records KILLED, LIVED, TIMED OUT or NOT VIABLE. A
// mutant that lives where the tests run no code at all (a constant, a line no test
// reaches; from the unmutated run's coverage profile, or for a case expression that
// of the switch around it) stays NOT COVERED.
//
//	mutantpass pass -dir bin/mutation invoice      writes bin/mutation/invoice.pass.json
//	mutantpass summary -dir bin/mutation invoice bolt
//
// pass runs the tests of ./internal/<pkg> from the module root (the working
// directory), GOFLAGS and all, as gremlins did; each run is bounded by
// -timeout-coefficient times the unmutated run's time. summary prints, per package,
// gremlins' numbers and those with the second pass, then every mutant left lived or
// not covered.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mutantpass:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: mutantpass pass|summary [-dir DIR] PKG")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", "bin/mutation", "where gremlins' reports (PKG.json) are and PKG.pass.json goes")
	coefficient := fs.Int("timeout-coefficient", 5, "a mutant's run may take this many times the unmutated run")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "summary":
		return summary(os.Stdout, *dir, fs.Args())
	case "pass":
		for _, name := range fs.Args() {
			if err := passOne(ctx, *dir, name, *coefficient); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q: pass or summary", args[0])
	}
}

func passOne(ctx context.Context, dir, name string, coefficient int) error {
	var g report
	if err := readJSON(filepath.Join(dir, name+".json"), &g); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mutantpass-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &runner{pkgDir: filepath.Join("internal", name), tmp: tmp, coefficient: coefficient, log: os.Stdout}
	p, err := r.secondPass(ctx, name, g)
	if err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, name+".pass.json"), p)
}
