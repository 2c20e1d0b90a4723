// Command subscriber is a merchant system in miniature: it reads the payment events the
// epayflow worker publishes on the PAYMENT_EVENTS stream through a durable consumer, and
// prints each one. Run it against the local stack with the subscriber's credentials the
// stack prints when it is ready:
//
//	go run ./examples/subscriber -nats-url nats://127.0.0.1:4222 -nats-user subscriber -nats-password …
//
// NATS lets the NATS user subscriber read payments.> through a consumer on PAYMENT_EVENTS,
// and nothing else: no publishing, no inbox. Its replies must come on subjects under
// _INBOX.subscriber, the only ones it may subscribe to (nats.CustomInboxPrefix below; with
// the nats CLI: --inbox-prefix _INBOX.subscriber). With TLS, -nats-ca names the CA file.
// Every flag can be set by its variable instead: NATS_URL, NATS_USER, NATS_PASSWORD,
// NATS_CA.
//
// The consumer is durable: stop and start it again and it goes on where it stopped.
// Each message's signature is checked with the workers' public events key first
// (-events-public-key, EVENTS_PUBLIC_KEY; the local stack prints it): an event anyone
// else put on payments.> is skipped. Each message is decoded by the merchant package (github.com/epayflow/epayflow/merchant),
// which reads the envelope with the official CloudEvents Go SDK.
// Delivery is at least once, so a real subscriber remembers the event ids it handled
// (the CloudEvents id) and skips one it sees again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/merchant"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("subscriber", flag.ContinueOnError)
	url := fs.String("nats-url", envOr("NATS_URL", nats.DefaultURL), "NATS server URL (NATS_URL)")
	user := fs.String("nats-user", envOr("NATS_USER", "subscriber"), "NATS user (NATS_USER)")
	password := fs.String("nats-password", os.Getenv("NATS_PASSWORD"), "its password (NATS_PASSWORD; a flag shows in ps)")
	ca := fs.String("nats-ca", os.Getenv("NATS_CA"), "PEM file of the CA of the NATS servers' certificates: TLS (NATS_CA)")
	durable := fs.String("durable", "merchant-example", "durable consumer name (one per merchant system)")
	filter := fs.String("subject", "payments.>", `events to receive, such as "payments.paid"`)
	limit := fs.Int("n", 0, "exit after this many events (0: run until interrupted)")
	publicKey := fs.String("events-public-key", os.Getenv("EVENTS_PUBLIC_KEY"), "the workers' public events key, whpk_... (EVENTS_PUBLIC_KEY): events without their signature are skipped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *publicKey == "" {
		return errors.New("-events-public-key (EVENTS_PUBLIC_KEY) is required: the stack prints it (events key); an event is taken only with the workers' signature")
	}
	verifier, err := merchant.NewEventVerifier(*publicKey)
	if err != nil {
		return err
	}
	opts := []nats.Option{nats.Name("epayflow-example-subscriber"),
		// The subscriber user may subscribe to its own reply subjects only.
		nats.CustomInboxPrefix("_INBOX.subscriber")}
	if *password != "" {
		opts = append(opts, nats.UserInfo(*user, *password))
	}
	if *ca != "" {
		opts = append(opts, nats.RootCAs(*ca))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		// Never the password: the user and the URL.
		return fmt.Errorf("connect to %s as %s: %w", *url, *user, err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "PAYMENT_EVENTS", jetstream.ConsumerConfig{
		Durable:       *durable,
		FilterSubject: *filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on PAYMENT_EVENTS: %w", *durable, err)
	}
	fmt.Fprintf(out, "listening on PAYMENT_EVENTS %s as %s\n", *filter, *durable)
	return consume(ctx, cons, verifier, *limit, out)
}

// consume prints each event and acks it; the ack is what moves the durable consumer on.
// It pulls in bounded batches (never more than it still wants), so a stopped subscriber
// leaves no pull request behind that would swallow the next event, and it waits for the
// server to confirm each ack (DoubleAck) so a restart resumes exactly after it.
func consume(ctx context.Context, cons jetstream.Consumer, verifier *merchant.EventVerifier, limit int, out io.Writer) error {
	for n := 0; limit == 0 || n < limit; {
		want := 100
		if limit > 0 {
			want = min(want, limit-n)
		}
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for msg := range batch.Messages() {
			printEvent(out, verifier, msg.Subject(), msg.Headers(), msg.Data())
			if err := msg.DoubleAck(ctx); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// printEvent verifies a message's signature and decodes it (merchant.VerifyMessage: then
// DecodeEvent, where the official CloudEvents SDK reads and validates the envelope; the
// event's type must be its subject's), and prints it.
func printEvent(out io.Writer, verifier *merchant.EventVerifier, subject string, h nats.Header, body []byte) {
	ev, err := verifier.VerifyMessage(subject, h, body)
	if err != nil {
		fmt.Fprintf(out, "skipping a message: %v\n", err)
		return
	}
	inv := ev.Data.Invoice
	fmt.Fprintf(out, "%s %-24s invoice=%s state=%s amount=%s %s tx=%s reasonCode=%d orderId=%s id=%s %s\n",
		ev.Time.Format(time.RFC3339), ev.Type, ev.Subject, inv.State, inv.Amount, inv.Currency,
		inv.TransactionID, inv.ReasonCode, inv.OrderID, ev.ID, ev.Data.Reason)
}
