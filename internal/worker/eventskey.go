package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/events"
)

// EventsKeyUsage is `worker events-key`'s line in the worker's -h.
const EventsKeyUsage = "worker events-key [-public]"

// EventsKey is `worker events-key`: it prints a new events key (WORKER_EVENTS_KEY) and
// its public key, or with -public the public key of the WORKER_EVENTS_KEY it is given:
// what subscribers and the webhooks service (WEBHOOKS_EVENTS_PUBLIC_KEYS) verify events
// with. Bad flags or a bad key wrap ErrConfig.
func EventsKey(args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("worker events-key", flag.ContinueOnError)
	fs.SetOutput(out)
	public := fs.Bool("public", false, "print the public key of WORKER_EVENTS_KEY instead of making a new key")
	key := fs.String("events-key", "", "the events key (with -public)")
	err := envflag.Parse(fs, args, getenv, map[string]string{"events-key": "WORKER_EVENTS_KEY"})
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || fs.NArg() > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, EventsKeyUsage)
	}
	if *public {
		s, err := events.ParseSigningKey(*key)
		if err != nil {
			return fmt.Errorf("%w: WORKER_EVENTS_KEY: %v", ErrConfig, err)
		}
		fmt.Fprintln(out, s.PublicKey())
		return nil
	}
	s, err := events.NewSigner()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "WORKER_EVENTS_KEY=%s\nWEBHOOKS_EVENTS_PUBLIC_KEYS=%s\n", s.Key(), s.PublicKey())
	return nil
}
