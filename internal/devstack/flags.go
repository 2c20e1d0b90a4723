package devstack

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/internal/webhooks"
	"github.com/epayflow/epayflow/internal/worker"
)

// ErrConfig is wrapped by the devstack's own configuration errors: a bad flag or
// variable, an address another process holds, the public keys in prod.
var ErrConfig = errors.New("config")

// ConfigErrors are the sentinels of every configuration error Run may return: the
// devstack's and each service's (a variable a service refuses, a port it cannot take).
// cmd/devstack exits 2 for them.
var ConfigErrors = []error{ErrConfig, ingest.ErrConfig, worker.ErrConfig, initiator.ErrConfig, sandbox.ErrConfig, webhooks.ErrConfig}

// Default addresses of the stack on a laptop.
const (
	DefaultNATSAddr      = "127.0.0.1:4222"
	DefaultInitiatorAddr = "127.0.0.1:8080"
	DefaultIngestAddr    = "127.0.0.1:8081"
	DefaultWorkerAddr    = "127.0.0.1:8082"
	DefaultSandboxAddr   = "127.0.0.1:8090"
	DefaultWebhooksAddr  = "127.0.0.1:8084"
)

// envNames are the variables of the devstack's flags: the addresses have the names the
// services read (INGEST_ADDR is the ingest's -addr), NATS_ADDR is the embedded server's.
var envNames = envflag.Merge(logging.FlagEnvNames, map[string]string{
	"data":           "DEVSTACK_DATA",
	"nats-addr":      "NATS_ADDR",
	"initiator-addr": "INITIATOR_ADDR",
	"ingest-addr":    "INGEST_ADDR",
	"worker-addr":    "WORKER_ADDR",
	"sandbox-addr":   "SANDBOX_ADDR",
	"webhooks-addr":  "WEBHOOKS_ADDR",
})

// FlagEnvNames returns, for each flag ParseFlags declares, its environment variable: a copy.
func FlagEnvNames() map[string]string { return maps.Clone(envNames) }

// Subcommands are the commands `devstack` runs besides the stack, for its -h.
var Subcommands = []envflag.Subcommand{
	{Usage: "devstack trigger [-url URL] [-invoice ID] [-kind success|failure] ...",
		Doc: "send signed ePay callbacks to the stack's ingest (INGEST_ADDR) or -url, with the stack's local keys"},
}

// ParseFlags reads the devstack's settings from args and the environment (a flag wins
// over its variable); the services read the rest of their settings from getenv as they
// would alone. A -h (or help) prints the usage to usage and returns flag.ErrHelp; every
// other error wraps ErrConfig and is one line.
func ParseFlags(name string, args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Config{Getenv: getenv, LogFormat: "text", LogLevel: "warn"}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.DataDir, "data", "var", "directory for NATS and bbolt data")
	fs.StringVar(&c.NATSAddr, "nats-addr", DefaultNATSAddr, "listen address of the embedded NATS server (the services' NATS_URL points there)")
	fs.StringVar(&c.InitiatorAddr, "initiator-addr", DefaultInitiatorAddr, "listen address of the initiator (payments API, shop page)")
	fs.StringVar(&c.IngestAddr, "ingest-addr", DefaultIngestAddr, "listen address of the ingest (ePay's callbacks)")
	fs.StringVar(&c.WorkerAddr, "worker-addr", DefaultWorkerAddr, "listen address of the worker (read API)")
	fs.StringVar(&c.SandboxAddr, "sandbox-addr", DefaultSandboxAddr, "listen address of the ePay sandbox")
	fs.StringVar(&c.WebhooksAddr, "webhooks-addr", DefaultWebhooksAddr, "listen address of the webhooks service (endpoints API)")
	logging.BindFlags(fs, &c.LogFormat, &c.LogLevel)
	if err := envflag.ParseCommand(fs, args, getenv, envNames, ErrConfig, Subcommands...); err != nil {
		return c, err
	}
	if _, err := logging.New(io.Discard, c.LogFormat, c.LogLevel); err != nil {
		return c, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, c.checkAddrs()
}

// listener is one address the stack listens on, and the variable that sets it.
type listener struct{ env, addr string }

func (c *Config) listeners() []listener {
	return []listener{{"NATS_ADDR", c.NATSAddr}, {"SANDBOX_ADDR", c.SandboxAddr}, {"INGEST_ADDR", c.IngestAddr},
		{"WORKER_ADDR", c.WorkerAddr}, {"INITIATOR_ADDR", c.InitiatorAddr}, {"WEBHOOKS_ADDR", c.WebhooksAddr}}
}

// checkAddrs refuses an address that is not host:port and two services on one port.
func (c *Config) checkAddrs() error {
	seen := map[string]string{}
	for _, l := range c.listeners() {
		if err := httpserver.CheckAddr(l.addr); err != nil {
			return fmt.Errorf("%w: %s %v", ErrConfig, l.env, err)
		}
		if _, port, _ := net.SplitHostPort(l.addr); port == "0" {
			continue
		}
		if other, ok := seen[l.addr]; ok {
			return fmt.Errorf("%w: %s and %s are both %s: give each service a port of its own", ErrConfig, other, l.env, l.addr)
		}
		seen[l.addr] = l.env
	}
	return nil
}

// checkFree tries every fixed address of the stack before anything starts, so that a
// port another process holds (a second make run) is said at once, with every such
// address and its variable, instead of as a service failing later. dataDir is the
// stack's, for the suggestion of a second one.
func checkFree(ls []listener, dataDir string) error {
	var taken, moved []string
	for _, l := range ls {
		if _, port, _ := net.SplitHostPort(l.addr); port == "0" || l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		switch {
		case err == nil:
			ln.Close()
			continue
		case !errors.Is(err, syscall.EADDRINUSE):
			return fmt.Errorf("%w: %s %s: %v", ErrConfig, l.env, l.addr, err)
		}
		taken = append(taken, fmt.Sprintf("%s (%s)", l.addr, l.env))
		moved = append(moved, l.env+"="+elsewhere(l.addr))
	}
	if len(taken) == 0 {
		return nil
	}
	verb := "is"
	if len(taken) > 1 {
		verb = "are"
	}
	return fmt.Errorf("%w: %s %s in use: another process listens there (a second make run?); stop it, or move the stack: make run %s (a second stack needs data of its own too: DEVSTACK_DATA=%s2)",
		ErrConfig, envflag.List(taken), verb, strings.Join(moved, " "), filepath.Clean(dataDir))
}

// elsewhere is addr with its port 10000 higher (or lower), a suggestion.
func elsewhere(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	if p+10000 <= 65535 {
		p += 10000
	} else {
		p -= 10000
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}
