package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ParseCommand is Parse for a command that takes flags and no arguments, with what every
// command does around it. A -h (or -help, --help, or help as the first argument) prints
// the usage (each flag with its variable, then subs, the subcommands) to fs.Output() and
// returns flag.ErrHelp. Every other error, a stray argument included, is one line
// wrapping errConfig; the flag package's own message and usage are not printed.
func ParseCommand(fs *flag.FlagSet, args []string, getenv func(string) string, envNames map[string]string, errConfig error, subs ...Subcommand) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	if len(args) > 0 && args[0] == "help" {
		args = []string{"-h"}
	}
	err := parse(fs, args, getenv, envNames, subs)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(out)
		fs.Usage()
		return err
	case err != nil:
		return fmt.Errorf("%w: %v", errConfig, err)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q%s (%s -h lists the flags%s)", errConfig, fs.Arg(0), subcommandNames(subs), fs.Name(), orSubcommands(subs))
	}
	return nil
}

// subcommandNames is ": the subcommands are a and b" (": the only subcommand is a"),
// or "" without subcommands.
func subcommandNames(subs []Subcommand) string {
	if len(subs) == 0 {
		return ""
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		f := strings.Fields(s.Usage)
		names[i] = f[min(1, len(f)-1)]
	}
	if len(names) == 1 {
		return ": the only subcommand is " + names[0]
	}
	return ": the subcommands are " + List(names)
}

func orSubcommands(subs []Subcommand) string {
	if len(subs) == 0 {
		return ""
	}
	return " and subcommands"
}

// List joins names as a sentence does: "a", "a and b", "a, b and c".
func List(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Missing is the message for required settings left unset, all of them at once: "A is
// required", "A, B and C are required"; "" for none.
func Missing(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " is required"
	}
	return List(names) + " are required"
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
