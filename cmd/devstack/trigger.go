package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// trigger is epay-sandbox's trigger (epaytest.Trigger) signed with the devstack's local
// keys unless EPAY_SECRET_KEYS says otherwise, so callbacks verify at the local ingest, and
// aimed at the stack's ingest: INGEST_ADDR when it is set, unless TRIGGER_URL or -url says
// otherwise. With -create it first creates the invoice through the initiator, and with
// -wait it then reads the invoice's new state, both with the merchant package.
func trigger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ingestURL := ingestBase(getenv("INGEST_ADDR"))
	if slices.ContainsFunc(args, func(a string) bool {
		return a == "-url" || a == "--url" || strings.HasPrefix(a, "-url=") || strings.HasPrefix(a, "--url=")
	}) {
		ingestURL = "" // -url aims the callbacks, failures too
	}
	withKeys := func(name string) string {
		v := getenv(name)
		switch {
		case v != "":
			return v
		case name == "EPAY_SECRET_KEYS":
			return devstack.DevSecretKeys
		case name == "TRIGGER_URL" && ingestURL != "":
			return ingestURL + "/epay/postlink"
		case name == "TRIGGER_FAILURE_URL" && ingestURL != "" && getenv("TRIGGER_URL") == "":
			return ingestURL + "/epay/failure-postlink"
		}
		return v
	}
	mf, args, err := cutMerchantFlags(args)
	if err == nil && mf.create && hasFlag(args, "invoice") {
		err = fmt.Errorf("%w: -create makes the invoice: give -create or -invoice, not both", epaytest.ErrTriggerOptions)
	}
	var opts epaytest.TriggerOptions
	if err == nil {
		opts, err = epaytest.ParseTriggerFlags("devstack trigger", args, withKeys)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, merchantUsage)
		return err
	case err != nil:
		fmt.Fprintln(stderr, "devstack trigger:", err)
		return errUsage
	}
	if mf.create {
		if err := createInvoice(ctx, &opts, getenv, stdout); err != nil {
			return err
		}
	}
	res, err := epaytest.Trigger(ctx, opts)
	res.WriteReport(stdout)
	if err != nil {
		return err
	}
	if n := res.Unexpected(); n > 0 {
		return fmt.Errorf("%d callbacks did not get the answer they should", n)
	}
	if mf.wait {
		return waitInvoice(ctx, opts.InvoiceID, getenv, stdout)
	}
	return nil
}

// ingestBase is the base URL of an ingest listening on addr (INGEST_ADDR): localhost for
// every interface; "" for no or a bad address.
func ingestBase(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
