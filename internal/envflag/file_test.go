package envflag_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
)

// writeFile writes content to a new file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVariableFromFile(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string { return writeFile(t, dir, "addr", content) }
	tests := []struct {
		name    string
		args    []string
		content string            // of SVC_ADDR_FILE's file, unless env sets it
		env     map[string]string // besides SVC_ADDR_FILE
		want    settings
	}{
		{"one trailing newline trimmed", nil, ":9000\n", nil, settings{":9000", 5 * time.Second, false}},
		{"CRLF is one newline", nil, ":9000\r\n", nil, settings{":9000", 5 * time.Second, false}},
		{"only one newline trimmed", nil, ":9000\n\n", nil, settings{":9000\n", 5 * time.Second, false}},
		{"no newline", nil, ":9000", nil, settings{":9000", 5 * time.Second, false}},
		{"spaces kept", nil, " :9000 \n", nil, settings{" :9000 ", 5 * time.Second, false}},
		{"a lone CR kept", nil, ":9000\r", nil, settings{":9000\r", 5 * time.Second, false}},
		{"empty file is an empty variable", nil, "", nil, settings{":8080", 5 * time.Second, false}},
		{"newline only is an empty variable", nil, "\n", nil, settings{":8080", 5 * time.Second, false}},
		{"empty variable and a file", nil, ":9000\n", map[string]string{"SVC_ADDR": ""}, settings{":9000", 5 * time.Second, false}},
		{"flag over file", []string{"-addr", ":9100"}, ":9000\n", nil, settings{":9100", 5 * time.Second, false}},
		{"other variables as they are", nil, ":9000\n", map[string]string{"SVC_TIMEOUT": "2s"}, settings{":9000", 2 * time.Second, false}},
		{"a duration from a file", nil, ":9000\n", map[string]string{"SVC_TIMEOUT_FILE": "timeout"}, settings{":9000", time.Second, false}},
		{"a bool from a file", nil, ":9000\n", map[string]string{"SVC_VERBOSE_FILE": "verbose"}, settings{":9000", 5 * time.Second, true}},
	}
	writeFile(t, dir, "timeout", "1s\n")
	writeFile(t, dir, "verbose", "true\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SVC_ADDR_FILE": file(tt.content)}
			for k, v := range tt.env {
				if strings.HasSuffix(k, "_FILE") {
					v = filepath.Join(dir, v)
				}
				env[k] = v
			}
			var got settings
			fs, names := newFlags(&got, io.Discard)
			if err := envflag.ParseCommand(fs, tt.args, envOf(env), names, errTestConfig); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVariableFromFileErrors(t *testing.T) {
	dir := t.TempDir()
	const secret = "A:do-not-print-this-secret"
	secretFile := writeFile(t, dir, "keys", secret+"\n")
	unreadable := writeFile(t, dir, "unreadable", secret)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	big := writeFile(t, dir, "big", strings.Repeat("x", envflag.MaxFileBytes+1))
	badDuration := writeFile(t, dir, "duration", "soon\n")
	missing := filepath.Join(dir, "no-such-file")
	tests := []struct {
		name  string
		env   map[string]string
		want  []string // all in the one-line error
		skip  bool
		extra map[string]string // more flag -> variable names
	}{
		{"both set", map[string]string{"SVC_ADDR": ":9000", "SVC_ADDR_FILE": secretFile}, []string{"SVC_ADDR and SVC_ADDR_FILE are both set"}, false, nil},
		{"no such file", map[string]string{"SVC_ADDR_FILE": missing}, []string{"SVC_ADDR_FILE", missing, "no such file"}, false, nil},
		{"a directory", map[string]string{"SVC_ADDR_FILE": dir}, []string{"SVC_ADDR_FILE", dir, "is a directory"}, false, nil},
		{"no permission", map[string]string{"SVC_ADDR_FILE": unreadable}, []string{"SVC_ADDR_FILE", unreadable, "permission denied"}, os.Geteuid() == 0, nil},
		{"too large", map[string]string{"SVC_ADDR_FILE": big}, []string{"SVC_ADDR_FILE", big, "larger than"}, false, nil},
		{"bad value from a file", map[string]string{"SVC_TIMEOUT_FILE": badDuration}, []string{"SVC_TIMEOUT_FILE: "}, false, nil},
		{"a variable named like a file variant", nil, []string{"SVC_ADDR_FILE", "SVC_ADDR"}, false, map[string]string{"verbose": "SVC_ADDR_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("root reads every file")
			}
			var s settings
			var out bytes.Buffer
			fs, names := newFlags(&s, &out)
			for k, v := range tt.extra {
				names[k] = v
			}
			err := envflag.ParseCommand(fs, nil, envOf(tt.env), names, errTestConfig)
			if !errors.Is(err, errTestConfig) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line wrapping errTestConfig", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err %q lacks %q", err, want)
				}
			}
			for _, content := range []string{secret, "soon", "xxxx"} {
				if strings.Contains(err.Error(), content) {
					t.Errorf("err %q shows the file's content", err)
				}
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
}

func TestHelpSaysEveryVariableMayBeAFile(t *testing.T) {
	var s settings
	var out bytes.Buffer
	fs, names := newFlags(&s, &out)
	if err := envflag.ParseCommand(fs, []string{"-h"}, envOf(nil), names, errTestConfig); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "Every variable X may instead be given as X_FILE") {
		t.Errorf("usage does not mention X_FILE:\n%s", out.String())
	}
}

func TestGetenvReadsTheFileVariantToo(t *testing.T) {
	path := writeFile(t, t.TempDir(), "pod", "worker-2\n")
	for _, tt := range []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{map[string]string{"POD_NAME": "worker-1"}, "worker-1", false},
		{map[string]string{"POD_NAME_FILE": path}, "worker-2", false},
		{map[string]string{}, "", false},
		{map[string]string{"POD_NAME": "worker-1", "POD_NAME_FILE": path}, "", true},
		{map[string]string{"POD_NAME_FILE": path + ".missing"}, "", true},
	} {
		got, err := envflag.Getenv(envOf(tt.env), "POD_NAME")
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%v: %q, %v", tt.env, got, err)
		}
	}
}
