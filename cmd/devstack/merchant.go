package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/merchant"
)

// merchantFlags are devstack trigger's own flags, on top of epay-sandbox's: they play the
// merchant's side with the merchant package, as a shop's backend would.
type merchantFlags struct {
	create bool // create the invoice through the initiator first
	wait   bool // then read it from the worker until it leaves created
}

const merchantUsage = `
devstack trigger only:
  -create   create the invoice through the initiator first (POST /v1/payments with -amount and
            -currency; INITIATOR_ADDR, the key INITIATOR_API_KEYS or the local one), then pay it
  -wait     then read the invoice from the worker's read API until it leaves created, within 30s
            (WORKER_ADDR, WORKER_READ_KEY: the read key make run prints), and print its state
`

// cutMerchantFlags takes -create and -wait (also --name and -name=bool) out of args.
func cutMerchantFlags(args []string) (merchantFlags, []string, error) {
	var f merchantFlags
	var rest []string
	for _, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		var dst *bool
		switch {
		case !strings.HasPrefix(a, "-"):
		case name == "create":
			dst = &f.create
		case name == "wait":
			dst = &f.wait
		}
		if dst == nil {
			rest = append(rest, a)
			continue
		}
		*dst = true
		if hasVal {
			b, err := strconv.ParseBool(val)
			if err != nil {
				return f, nil, fmt.Errorf("%w: -%s=%s: not a boolean", epaytest.ErrTriggerOptions, name, val)
			}
			*dst = b
		}
	}
	return f, rest, nil
}

// hasFlag reports whether args set flag name.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		n, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			return true
		}
	}
	return false
}

// serviceBase is the base URL of a service of the stack listening on addr (its
// variable), or def when addr is empty or bad.
func serviceBase(addr, def string) string {
	if b := ingestBase(addr); b != "" {
		return b
	}
	return def
}

// createInvoice creates a payment through the initiator for opts' amount and currency,
// and points opts at its invoice and terminal.
func createInvoice(ctx context.Context, opts *epaytest.TriggerOptions, getenv func(string) string, stdout io.Writer) error {
	key, _, _ := strings.Cut(getenv("INITIATOR_API_KEYS"), ",")
	if key = strings.TrimSpace(key); key == "" {
		key = devstack.DevAPIKey
	}
	c, err := merchant.New(merchant.Config{InitiatorURL: serviceBase(getenv("INITIATOR_ADDR"), "http://localhost:8080"), APIKey: key})
	if err != nil {
		return err
	}
	p, err := c.CreatePayment(ctx, merchant.PaymentRequest{Kind: merchant.KindPayment, Amount: opts.Amount.String(),
		Currency: opts.Currency, Description: "devstack trigger"}, "")
	if err != nil {
		return fmt.Errorf("create the invoice: %w", err)
	}
	var obj struct {
		Terminal string `json:"terminal"`
	}
	if err := json.Unmarshal(p.PaymentObject, &obj); err != nil || obj.Terminal == "" {
		return fmt.Errorf("create the invoice: a payment object without its terminal: %s", p.PaymentObject)
	}
	opts.InvoiceID, opts.Terminal = p.InvoiceID, obj.Terminal
	fmt.Fprintf(stdout, "created invoice %s through the initiator: %s %s\n", p.InvoiceID, opts.Amount, opts.Currency)
	return nil
}

// errStillCreated is returned by waitInvoice when the invoice stays created.
var errStillCreated = errors.New("the invoice is still created")

// waitInvoice reads the invoice from the worker until it leaves created (30 s at most,
// or until ctx ends) and prints its state.
func waitInvoice(ctx context.Context, id string, getenv func(string) string, stdout io.Writer) error {
	c, err := merchant.New(merchant.Config{WorkerURL: serviceBase(getenv("WORKER_ADDR"), "http://localhost:8082"), ReadKey: getenv("WORKER_READ_KEY")})
	if err != nil {
		return fmt.Errorf("-wait needs WORKER_READ_KEY, the read key make run prints: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		inv, err := c.Invoice(ctx, id)
		switch {
		case ctx.Err() != nil:
			// The wait ended during the read: the answer is the wait's, not the read's.
			return fmt.Errorf("invoice %s: %w (%v)", id, errStillCreated, err)
		case err == nil && inv.State != merchant.StateCreated:
			fmt.Fprintf(stdout, "invoice %s: state %s, amount %s %s, version %d\n", id, inv.State, inv.Amount, inv.Currency, inv.Version)
			return nil
		case err != nil && !errors.Is(err, merchant.ErrNotFound) && !errors.Is(err, merchant.ErrUnavailable):
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("invoice %s: %w (%v)", id, errStillCreated, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
