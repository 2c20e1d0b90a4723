// Package envflag lets every flag of a command be set from an environment variable too,
// so the same binary is configured by flags on a laptop and by env in Kubernetes.
// A flag given on the command line wins over its variable.
//
// Every variable X may instead be given as X_FILE, the path of a file holding the value
// (a Kubernetes Secret mounted as a file, a Docker secret): the file's content with one
// trailing newline ("\n" or "\r\n") trimmed. X and X_FILE both set is an error, and so is
// a file that cannot be read; the errors name the variable and the path, never the content.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FileSuffix turns a variable's name into the name of the variable holding the path of
// a file with its value: EPAY_SECRET_KEYS_FILE for EPAY_SECRET_KEYS.
const FileSuffix = "_FILE"

// MaxFileBytes bounds a value read from a file: a path to something else by mistake
// (a log, /dev/zero) is an error, not a hang.
const MaxFileBytes = 1 << 20

// Parse sets each flag named in envNames (flag name -> variable) from getenv, then parses
// args. A variable X that is empty is read from the file named by X_FILE, if that is set
// (see the package doc). A bad value is reported with the variable's name (X, or X_FILE
// for a value read from a file). Usage lists the variables.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, envNames map[string]string) error {
	return parse(fs, args, getenv, envNames, nil)
}

func parse(fs *flag.FlagSet, args []string, getenv func(string) string, envNames map[string]string, subs []Subcommand) error {
	usage(fs, envNames, subs)
	names := make([]string, 0, len(envNames))
	for name := range envNames {
		names = append(names, name)
	}
	sort.Strings(names)
	isVariable := make(map[string]bool, len(envNames))
	for _, env := range envNames {
		isVariable[env] = true
	}
	for _, name := range names {
		env := envNames[name]
		if fs.Lookup(name) == nil {
			return fmt.Errorf("envflag: no flag %q for %s", name, env)
		}
		if isVariable[env+FileSuffix] {
			return fmt.Errorf("envflag: %s is a variable of its own and the file variant of %s", env+FileSuffix, env)
		}
		v, source, err := lookup(getenv, env)
		if err != nil {
			return err
		}
		if v != "" {
			if err := fs.Set(name, v); err != nil {
				if source != env { // from a file: its content is not quoted
					return fmt.Errorf("%s: the file's value %s", source, badValue(fs.Lookup(name), "", false, err))
				}
				return fmt.Errorf("%s: %s", source, badValue(fs.Lookup(name), v, true, err))
			}
		}
	}
	return commandLineError(fs, fs.Parse(args))
}

// badValue says what is wrong with value, which flag f refused with err: for the flag
// package's own types, what the flag wants ("is not an integer") instead of its bare
// "parse error"; for other values, err. value is quoted first when show is true.
func badValue(f *flag.Flag, value string, show bool, err error) string {
	quoted := ""
	if show {
		quoted = fmt.Sprintf("%q ", value)
	}
	switch want := wants(f); {
	case want == "":
		return quoted + err.Error()
	case err.Error() == "value out of range":
		return quoted + "is out of range: want " + want
	case err.Error() == "parse error":
		return quoted + "is not " + want
	}
	return quoted + err.Error()
}

// wants is what the flag package's value types take, "" for other values.
func wants(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case bool:
		return "true or false"
	case int, int64:
		return "an integer"
	case uint, uint64:
		return "a whole number (0 or more)"
	case float64:
		return "a number"
	case time.Duration:
		return "a duration such as 500ms, 30s, 5m or 1h30m"
	}
	return ""
}

// flagParseError matches the flag package's errors for a value its own types refuse.
var flagParseError = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-(\S+): (parse error|value out of range)$`)

// commandLineError rewrites the flag package's "invalid value "abc" for flag -shards:
// parse error" as "-shards "abc" is not an integer"; other errors are returned as they are.
func commandLineError(fs *flag.FlagSet, err error) error {
	if err == nil {
		return nil
	}
	m := flagParseError.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	f := fs.Lookup(m[2])
	if f == nil || wants(f) == "" {
		return err
	}
	value, uerr := strconv.Unquote(m[1])
	if uerr != nil {
		return err
	}
	return fmt.Errorf("-%s %s", m[2], badValue(f, value, true, errors.New(m[3])))
}

// Getenv returns the value of variable env as Parse reads it, env itself or the content
// of the file env_FILE names, for a variable that is not a flag's.
func Getenv(getenv func(string) string, env string) (string, error) {
	v, _, err := lookup(getenv, env)
	return v, err
}

// lookup returns the value of variable env, from env itself or from the file env_FILE
// names, and the name of the variable it came from.
func lookup(getenv func(string) string, env string) (value, source string, err error) {
	fileEnv := env + FileSuffix
	value, path := getenv(env), getenv(fileEnv)
	switch {
	case path == "":
		return value, env, nil
	case value != "":
		return "", "", fmt.Errorf("%s and %s are both set: set one of them", env, fileEnv)
	}
	b, err := readFile(path)
	if err != nil {
		return "", "", fmt.Errorf("%s: cannot read %q: %v", fileEnv, path, err)
	}
	value = strings.TrimSuffix(string(b), "\n")
	if len(value) < len(b) {
		value = strings.TrimSuffix(value, "\r")
	}
	return value, fileEnv, nil
}

// readFile reads at most MaxFileBytes of the file at path. Its errors never hold the
// content, nor the path (the caller names it once).
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	switch {
	case err != nil:
		return nil, pathless(err)
	case len(b) > MaxFileBytes:
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	return b, nil
}

// pathless drops the operation and path of an *os.PathError: "no such file or directory".
func pathless(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}

func usage(fs *flag.FlagSet, envNames map[string]string, subs []Subcommand) {
	byFlag := envNames
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage of %s:\n", fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			printFlag(w, f, byFlag[f.Name])
		})
		if len(byFlag) > 0 {
			fmt.Fprintf(w, "Every variable X may instead be given as X%s, the path of a file holding the value\n"+
				"(one trailing newline trimmed), for secrets mounted as files; X and X%s both set is an error.\n",
				FileSuffix, FileSuffix)
		}
		printSubcommands(w, subs)
	}
}

// Subcommand is a command run under another's name (`ingest sign`), listed by the
// other's usage.
type Subcommand struct {
	// Usage is its synopsis, the command's name first: "ingest sign <terminal> <invoiceId>".
	Usage string
	// Doc says what it does, in a line.
	Doc string
}

func printSubcommands(w io.Writer, subs []Subcommand) {
	if len(subs) == 0 {
		return
	}
	fmt.Fprintln(w, "Subcommands (each has its own -h):")
	for _, s := range subs {
		fmt.Fprintln(w, "  "+s.Usage)
		fmt.Fprintln(w, "    \t"+s.Doc)
	}
}

// UsageFlags reads back the usage Parse prints (-h): each flag's name and its variable
// ("" for a flag without one). Tests use it to check that every flag of a command has a
// variable; it visits every flag, since the usage does (flag.FlagSet.VisitAll).
func UsageFlags(usage string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(line, "  -")
		if !ok || rest == "" {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		env := ""
		if i := strings.LastIndex(rest, "  (env "); i >= 0 && strings.HasSuffix(rest, ")") {
			env = rest[i+len("  (env ") : len(rest)-1]
		}
		out[name] = env
	}
	return out
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
