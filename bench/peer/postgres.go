package peer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPostgres is returned by FindBinaries when initdb and pg_ctl are nowhere to be found.
var ErrNoPostgres = errors.New("PostgreSQL binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin nor on PATH; " +
	"install them with `apt-get install -y postgresql`")

// FindBinaries returns the directory holding initdb and pg_ctl: the newest
// /usr/lib/postgresql/<version>/bin (where Debian's package puts them, off PATH), else
// the directory of the initdb on PATH. It returns ErrNoPostgres when there is none.
func FindBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && isFile(filepath.Join(filepath.Dir(p), "pg_ctl")) {
			return filepath.Dir(p), nil
		}
	}
	return "", ErrNoPostgres
}

// version is the number in /usr/lib/postgresql/<number>/bin, 0 when it is none.
func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// Server is a private PostgreSQL cluster: its own data directory, a loopback port, no
// unix socket, trust authentication for the local user postgres, and durability as
// shipped: fsync on, synchronous_commit on (every commit's WAL is flushed to disk
// before the commit returns; concurrent commits share a flush).
type Server struct {
	DSN  string // a connection string for pgx
	bin  string
	base string // removed by Stop: the data directory and the log
	cred *syscall.Credential
}

// Settings are the server's non-default settings, as written to postgresql.conf; the
// suite prints them.
var Settings = []string{"fsync = on", "synchronous_commit = on", "max_connections = 300", "listen_addresses = '127.0.0.1'", "unix_socket_directories = ''"}

// Start makes a new cluster with initdb in a new temporary directory and starts it with
// pg_ctl on 127.0.0.1:port; it returns once the server accepts connections. Run as
// root, PostgreSQL refuses to start: then the cluster belongs to, and the server runs
// as, the system user postgres (which Debian's package creates).
func Start(ctx context.Context, binDir string, port int) (*Server, error) {
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "epayflow-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: binDir, base: base, cred: cred,
		DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", port)}
	if err := s.init(ctx, port); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	if err := s.run(ctx, "pg_ctl", "-D", s.data(), "-l", s.Log(), "-w", "-t", "60", "start"); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("pg_ctl start: %w", err)
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.base, "data") }

// Log is the server's log file.
func (s *Server) Log() string { return filepath.Join(s.base, "postgres.log") }

func (s *Server) init(ctx context.Context, port int) error {
	// the base is the server's way in to its data and log: readable by its user
	if err := os.Chmod(s.base, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(s.data(), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(s.Log(), nil, 0o600); err != nil {
		return err
	}
	for _, p := range []string{s.data(), s.Log()} {
		if err := s.chown(p); err != nil {
			return err
		}
	}
	// --no-sync only spares initdb's own fsyncs of the template files; the server's
	// commits are fsynced as configured below.
	if err := s.run(ctx, "initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	conf := fmt.Sprintf("\n# epayflow benchmark peer\nport = %d\n", port)
	for _, line := range Settings {
		conf += line + "\n"
	}
	f, err := os.OpenFile(filepath.Join(s.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Stop stops the server (fast shutdown: open transactions are rolled back) and removes
// its directory.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.run(ctx, "pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop")
	return errors.Join(err, os.RemoveAll(s.base))
}

// run runs one of the PostgreSQL binaries as the server's user; its output is in the error.
func (s *Server) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.base
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func (s *Server) chown(p string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(p, int(s.cred.Uid), int(s.cred.Gid))
}

// runAs is the user the server runs as: nil (this process's) unless this is root, then
// the system user postgres.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL will not run as root, and there is no user postgres to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Version is what `postgres --version` says, "" when it says nothing.
func Version(binDir string) string {
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
