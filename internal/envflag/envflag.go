// Package envflag lets every flag of a command be set from an environment variable too,
// so the same binary is configured by flags on a laptop and by env in Kubernetes.
// A flag given on the command line wins over its variable.
package envflag

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Parse sets each flag named in envNames (flag name -> variable) from getenv, then parses
// args. A bad value is reported with the variable's name. Usage lists the variables.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, envNames map[string]string) error {
	usage(fs, envNames)
	names := make([]string, 0, len(envNames))
	for name := range envNames {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env := envNames[name]
		if fs.Lookup(name) == nil {
			return fmt.Errorf("envflag: no flag %q for %s", name, env)
		}
		if v := getenv(env); v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	return fs.Parse(args)
}

func usage(fs *flag.FlagSet, envNames map[string]string) {
	byFlag := envNames
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage of %s:\n", fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			printFlag(w, f, byFlag[f.Name])
		})
	}
}

func printFlag(w io.Writer, f *flag.Flag, env string) {
	name, help := flag.UnquoteUsage(f)
	line := "  -" + f.Name
	if name != "" {
		line += " " + name
	}
	if env != "" {
		line += "  (env " + env + ")"
	}
	fmt.Fprintln(w, line)
	help = strings.ReplaceAll(help, "\n", "\n    \t")
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
		help += fmt.Sprintf(" (default %q)", f.DefValue)
	}
	fmt.Fprintln(w, "    \t"+help)
}
