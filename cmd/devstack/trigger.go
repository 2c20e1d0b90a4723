package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// trigger is the sandbox's trigger signed with the devstack's local keys unless
// EPAY_SECRET_KEYS says otherwise, so callbacks verify at the local ingest.
func trigger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	withKeys := func(name string) string {
		if v := getenv(name); v != "" || name != "EPAY_SECRET_KEYS" {
			return v
		}
		return devstack.DevSecretKeys
	}
	opts, err := sandbox.ParseTriggerFlags("devstack trigger", args, withKeys)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		fmt.Fprintln(stderr, "devstack trigger:", err)
		return errUsage
	}
	res, err := sandbox.Trigger(ctx, opts)
	res.WriteReport(stdout)
	if err != nil {
		return err
	}
	if n := res.Unexpected(); n > 0 {
		return fmt.Errorf("%d callbacks did not get the answer they should", n)
	}
	return nil
}
