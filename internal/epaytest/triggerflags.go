package epaytest

import (
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/epay"
)

// Where the ingest listens by default (docs/DESIGN.md); the trigger aims there unless told.
const (
	DefaultTriggerURL        = "http://localhost:8081/epay/postlink"
	DefaultTriggerFailureURL = "http://localhost:8081/epay/failure-postlink"
)

// ParseTriggerFlags reads the options of the trigger command from args and the
// environment (EPAY_SECRET_KEYS holds the signing keys as KID:secret,...). Without -url
// and -failure-url the callbacks go to the local ingest's two routes; with -url only,
// failures go there too, as ePay does when failurePostLink is empty. Errors wrap
// ErrTriggerOptions or are flag.ErrHelp.
func ParseTriggerFlags(name string, args []string, getenv func(string) string) (TriggerOptions, error) {
	var o TriggerOptions
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	amount, keys := "100", ""
	timeout := 10 * time.Second
	fs.StringVar(&o.URL, "url", DefaultTriggerURL, "where success callbacks go (postLink)")
	fs.StringVar(&o.FailureURL, "failure-url", "", "where failure callbacks go (failurePostLink); -url when empty")
	fs.StringVar(&o.InvoiceID, "invoice", "", "invoiceId (6 to 15 digits); a random one when empty")
	fs.StringVar(&amount, "amount", amount, "amount, e.g. 100 or 12.22")
	fs.StringVar(&o.Currency, "currency", "KZT", "currency")
	fs.StringVar(&o.Terminal, "terminal", TestTerminal, "terminal id")
	fs.StringVar(&o.Kind, "kind", KindSuccess, "success or failure")
	fs.IntVar(&o.ReasonCode, "reason-code", 484, "reason code of a failure callback")
	fs.IntVar(&o.Duplicates, "duplicates", 1, "how many times each callback is POSTed")
	fs.BoolVar(&o.OutOfOrder, "out-of-order", false, "send a failure first, then the success")
	fs.BoolVar(&o.WrongHash, "wrong-hash", false, "send a secret_hash that does not verify (the receiver must refuse)")
	fs.StringVar(&keys, "secret-keys", "", "signing keys KID:secret,... (prefer the environment variable)")
	fs.DurationVar(&timeout, "timeout", timeout, "timeout of each POST")
	err := envflag.ParseCommand(fs, args, getenv, map[string]string{
		"secret-keys": "EPAY_SECRET_KEYS", "terminal": "EPAY_TERMINAL",
		"url": "TRIGGER_URL", "failure-url": "TRIGGER_FAILURE_URL",
	}, ErrTriggerOptions)
	if err != nil {
		return o, err
	}
	if o.URL == DefaultTriggerURL && o.FailureURL == "" {
		o.FailureURL = DefaultTriggerFailureURL
	}
	if o.InvoiceID == "" {
		o.InvoiceID = "9" + NewDigits(11)
	}
	if o.Amount, err = epay.ParseAmount(amount); err != nil {
		return o, fmt.Errorf("%w: amount: %v", ErrTriggerOptions, err)
	}
	if keys == "" {
		return o, fmt.Errorf("%w: no signing keys: set EPAY_SECRET_KEYS=KID:secret", ErrTriggerOptions)
	}
	if o.Keys, err = epay.ParseKeyring(keys); err != nil {
		return o, fmt.Errorf("%w: EPAY_SECRET_KEYS: %v", ErrTriggerOptions, err)
	}
	o.Client = &http.Client{Timeout: timeout}
	return o, o.Validate()
}
