package devstack_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/proctest"
)

// takenAddr is an address another listener holds until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestEveryFlagHasAVariable: each flag of the devstack has a variable, the addresses
// those of the services (INITIATOR_ADDR is the initiator's -addr).
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, err := devstack.ParseFlags("devstack", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	flags := envflag.UsageFlags(usage.String())
	names := devstack.FlagEnvNames()
	if len(flags) != len(names) {
		t.Fatalf("-h shows %v, envNames %v", flags, names)
	}
	for name, env := range flags {
		if env == "" || env != names[name] {
			t.Errorf("-%s: variable %q in -h, %q in envNames; want one", name, env, names[name])
		}
	}
	for name, env := range map[string]string{"initiator-addr": "INITIATOR_ADDR", "ingest-addr": "INGEST_ADDR",
		"worker-addr": "WORKER_ADDR", "sandbox-addr": "SANDBOX_ADDR", "webhooks-addr": "WEBHOOKS_ADDR", "nats-addr": "NATS_ADDR"} {
		if flags[name] != env {
			t.Errorf("-%s: variable %q, want %s", name, flags[name], env)
		}
	}
}

func TestParseFlagsAddressesFromVariablesFlagsWin(t *testing.T) {
	env := map[string]string{"INITIATOR_ADDR": "127.0.0.1:18080", "INGEST_ADDR": ":18081", "NATS_ADDR": "127.0.0.1:14222", "DEVSTACK_DATA": "/tmp/x"}
	cfg, err := devstack.ParseFlags("devstack", []string{"-initiator-addr", "127.0.0.1:28080"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InitiatorAddr != "127.0.0.1:28080" || cfg.IngestAddr != ":18081" || cfg.NATSAddr != "127.0.0.1:14222" ||
		cfg.WorkerAddr != devstack.DefaultWorkerAddr || cfg.SandboxAddr != devstack.DefaultSandboxAddr || cfg.DataDir != "/tmp/x" {
		t.Fatalf("config %+v", cfg)
	}
}

// TestHelpAndStrayArguments: help prints the usage (with trigger) and starts nothing;
// an unknown argument is a configuration error naming the subcommand; so are a bad
// address and two services on one port.
func TestHelpAndStrayArguments(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		var usage bytes.Buffer
		_, err := devstack.ParseFlags("devstack", args, func(string) string { return "" }, &usage)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "Subcommands (each has its own -h):\n  devstack trigger ") ||
			!strings.Contains(usage.String(), "-initiator-addr string  (env INITIATOR_ADDR)") {
			t.Errorf("%v: err %v, usage:\n%s", args, err, usage.String())
		}
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"foo"}, nil, `config: unexpected argument "foo": the only subcommand is trigger (devstack -h lists the flags and subcommands)`},
		{nil, map[string]string{"INITIATOR_ADDR": "8080"}, `config: INITIATOR_ADDR "8080" is not host:port`},
		{nil, map[string]string{"WORKER_ADDR": "127.0.0.1:8081"}, "config: INGEST_ADDR and WORKER_ADDR are both 127.0.0.1:8081"},
		{nil, map[string]string{"LOG_LEVEL": "loud"}, "config: "},
	} {
		_, err := devstack.ParseFlags("devstack", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
		if !errors.Is(err, devstack.ErrConfig) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%v %v: err %v, want %q", tt.args, tt.env, err, tt.want)
		}
	}
}

// TestTakenPortsAreSaidAtOnce: a second make run learns at once which addresses are
// taken, with their variables, and nothing starts.
func TestTakenPortsAreSaidAtOnce(t *testing.T) {
	natsAddr, initiatorAddr := takenAddr(t), takenAddr(t)
	data := filepath.Join(t.TempDir(), "var")
	cfg := devstack.Config{
		DataDir: data, NATSAddr: natsAddr, InitiatorAddr: initiatorAddr, IngestAddr: "127.0.0.1:0", WorkerAddr: "127.0.0.1:0", SandboxAddr: "127.0.0.1:0",
		WebhooksAddr: "127.0.0.1:0",
		Getenv:       func(string) string { return "" },
	}
	err := devstack.Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	want := "config: " + natsAddr + " (NATS_ADDR) and " + initiatorAddr + " (INITIATOR_ADDR) are in use: another process listens there (a second make run?); stop it, or move the stack: make run NATS_ADDR="
	if !errors.Is(err, devstack.ErrConfig) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), " INITIATOR_ADDR=127.0.0.1:") ||
		!strings.HasSuffix(err.Error(), "(a second stack needs data of its own too: DEVSTACK_DATA="+data+"2)") {
		t.Fatalf("err %v, want %q...", err, want)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data directory was made: %v", err)
	}
}

// TestStackListensWhereTheVariablesSay: INITIATOR_ADDR, INGEST_ADDR, WORKER_ADDR,
// SANDBOX_ADDR, WEBHOOKS_ADDR and NATS_ADDR place make run's services; a payment goes through.
func TestStackListensWhereTheVariablesSay(t *testing.T) {
	env := map[string]string{"INITIATOR_ADDR": proctest.Addr(t), "INGEST_ADDR": proctest.Addr(t), "WORKER_ADDR": proctest.Addr(t),
		"SANDBOX_ADDR": proctest.Addr(t), "WEBHOOKS_ADDR": proctest.Addr(t), "NATS_ADDR": proctest.Addr(t), "DEVSTACK_DATA": t.TempDir()}
	cfg, err := devstack.ParseFlags("devstack", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan devstack.URLs, 1)
	cfg.OnReady = func(u devstack.URLs) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- devstack.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devstack stopped with: %v", err)
		}
	}()
	var u devstack.URLs
	select {
	case u = <-ready:
	case err := <-done:
		t.Fatalf("devstack: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("not ready within 60s")
	}
	for got, want := range map[string]string{u.Initiator: "http://" + env["INITIATOR_ADDR"], u.Ingest: "http://" + env["INGEST_ADDR"],
		u.Worker: "http://" + env["WORKER_ADDR"], u.Sandbox: "http://" + env["SANDBOX_ADDR"], u.NATS: "nats://" + env["NATS_ADDR"],
		u.Webhooks: "http://" + env["WEBHOOKS_ADDR"]} {
		if got != want {
			t.Errorf("listens on %s, want %s", got, want)
		}
	}
	p := createPayment(t, u.Initiator)
	if p.PaymentObject.PostLink != u.Ingest+"/epay/postlink" {
		t.Errorf("postLink %q, want the ingest at INGEST_ADDR", p.PaymentObject.PostLink)
	}
}
