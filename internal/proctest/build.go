package proctest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// NATSServer names nats-server in Builder.Build: it is built from the module version
// go.mod pins, so the tests run the NATS the project is tested with.
const NATSServer = "nats-server"

const (
	module        = "github.com/epayflow/epayflow"
	natsServerPkg = "github.com/nats-io/nats-server/v2"
)

// Builder builds binaries into Dir.
type Builder struct {
	Go    string   // the go command (CHAOS_GO, GO in the Makefile); "go" when empty
	Dir   string   // where the binaries go; created if missing
	Flags []string // more flags of go build, such as -race
}

// Build builds programs with one go command: NATSServer or a command of this module by
// the name of its directory under cmd/ ("ingest", "worker"). It returns the path of each
// binary by the name it was given. The go command runs in the current directory, which
// must be inside this module. A failed build is an error with the compiler's output.
func (b Builder) Build(ctx context.Context, programs ...string) (map[string]string, error) {
	if len(programs) == 0 {
		return nil, fmt.Errorf("proctest: nothing to build")
	}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return nil, err
	}
	goTool := b.Go
	if goTool == "" {
		goTool = "go"
	}
	paths := make(map[string]string, len(programs))
	args := append(append([]string{"build"}, b.Flags...), "-o", b.Dir+string(filepath.Separator))
	for _, p := range programs {
		pkg := module + "/cmd/" + p
		if p == NATSServer {
			pkg = natsServerPkg
		}
		args = append(args, pkg)
		paths[p] = filepath.Join(b.Dir, p)
	}
	if out, err := exec.CommandContext(ctx, goTool, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s %v: %w\n%s", goTool, args, err, out)
	}
	return paths, nil
}
