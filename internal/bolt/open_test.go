package bolt

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const holdEnv = "EPAYFLOW_BOLT_TEST_HOLD"

// TestMain lets the test binary act as another process holding a store open.
func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		s, err := Open(path, Options{})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("holding\n")
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestOpenFileLockedByAnotherProcessIsErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	_, err = Open(path, Options{LockTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path+" is locked by another process (is another worker running?)") {
		t.Errorf("unclear message: %v", err)
	}
	// once the holder is gone the file opens
	stdin.Close()
	cmd.Wait()
	s, err := Open(path, Options{LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("after the holder exited: %v", err)
	}
	s.Close()
}

func TestOpenFileThatIsNotADatabaseIsErrCorruptAndUntouched(t *testing.T) {
	tests := map[string][]byte{
		"text":         []byte("hello, I am not a database\n"),
		"garbage page": []byte(strings.Repeat("\xde\xad\xbe\xef", 4096)),
		// bbolt says "file size too small", no error of its own: the store's check
		"zeroed pages": make([]byte, 5000),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "worker.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(content) {
				t.Fatal("the file was changed")
			}
		})
	}
}

// A path that is no file (a directory) is an error of its own, not ErrCorrupt: there is
// nothing to restore.
func TestOpenADirectoryIsNotErrCorrupt(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, Options{})
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want an error naming %s, not ErrCorrupt", err, dir)
	}
}
