package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ParseCommand is Parse for a command that takes flags and no arguments, with what every
// command does around it. A -h prints the usage (each flag with its variable) to
// fs.Output() and returns flag.ErrHelp. Every other error, a stray argument included, is
// one line wrapping errConfig; the flag package's own message and usage are not printed.
func ParseCommand(fs *flag.FlagSet, args []string, getenv func(string) string, envNames map[string]string, errConfig error) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	err := Parse(fs, args, getenv, envNames)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(out)
		fs.Usage()
		return err
	case err != nil:
		return fmt.Errorf("%w: %v", errConfig, err)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	return nil
}

// Merge returns one map of flag names to variables holding all of sets, for a command
// whose flags come from several packages (each with its own FlagEnvNames). A later set
// wins for a flag named twice.
func Merge(sets ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, set := range sets {
		for name, env := range set {
			out[name] = env
		}
	}
	return out
}
