// Command gen writes the secrets of deploy/compose/compose.yaml as files, from the
// environment where given, keeping what is already there, generating the rest:
//
//	go run ./deploy/compose/gen                       # from the repository root
//	EPAY_CLIENT_ID=… EPAY_CLIENT_SECRET=… EPAY_TERMINAL=… go run ./deploy/compose/gen   # ePay's credentials (prod)
//
// Variables (each optional): EPAY_CLIENT_ID, EPAY_CLIENT_SECRET, EPAY_TERMINAL (left empty:
// outside prod the services use ePay's published test ones), EPAY_SECRET_KEYS,
// INITIATOR_API_KEYS, INITIATOR_WORKER_KEY, WORKER_OPERATOR_KEY, WORKER_STATUS_KEY,
// WORKER_READ_KEYS, GRAFANA_ADMIN_PASSWORD, NATS_<ROLE>_PASSWORD for every NATS user.
// To rotate one secret, delete its file (or give it) and run again, then restart the
// services that read it (docs/DEPLOY.md, "Rotate …").
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/epayflow/epayflow/deploy/compose"
)

func main() {
	dir := flag.String("dir", filepath.Join("deploy", "compose", "secrets"), "where to write the secret files (compose.yaml reads ./secrets beside it)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "compose.yaml")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no compose.yaml beside %s: run from the repository root, or give -dir <compose dir>/secrets", dir)
	}
	if err := compose.Generate(dir, os.Getenv, os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nwrote %s (mode 0700; files 0644 for the containers' users). Never commit it.\n", dir)
	fmt.Fprintf(os.Stderr, "merchant API key:       %s\n", filepath.Join(dir, "initiator-api-keys"))
	fmt.Fprintf(os.Stderr, "merchant operate key:   %s   (also refunds, charges, cancels)\n", filepath.Join(dir, "initiator-operate-keys"))
	fmt.Fprintf(os.Stderr, "worker read API key:    %s   (reader %s)\n", filepath.Join(dir, "worker-operator-key"), compose.ReaderOperator)
	fmt.Fprintf(os.Stderr, "NATS subscriber:        user subscriber, password in %s\n", filepath.Join(dir, "nats-subscriber-password"))
	fmt.Fprintf(os.Stderr, "events public key:      %s   (subscribers verify events with it)\n", filepath.Join(dir, "events-public-keys"))
	fmt.Fprintf(os.Stderr, "Grafana:                user admin, password in %s\n", filepath.Join(dir, "grafana-admin-password"))
	return nil
}
