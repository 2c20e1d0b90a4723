package worker

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// applier applies inbox messages to the store: the router's handler.
type applier struct {
	store   *bolt.Store
	dec     decoder
	claimed func() // tells the checker that a success waits for confirmation
	metrics *Metrics
	log     *slog.Logger
	wake    func() // tells the relay that the outbox has new entries
	now     func() time.Time
}

// handle applies one message. It returns nil once the transaction is durable (the
// router then acks), an error wrapping ErrPoison for a message that can never be
// applied, and any other error for a transient failure (retried, then nacked).
func (a *applier) handle(msg *message.Message) error {
	kind := kindOf(msg)
	d, err := a.dec.decode(msg)
	if err != nil {
		return err
	}
	m := d.Message
	res, err := a.store.Apply(m, a.now())
	switch {
	case errors.Is(err, invoice.ErrInvalid):
		if errors.Is(err, bolt.ErrPendingFull) {
			a.metrics.PendingRefused.Inc()
		}
		return poison("%v", err)
	case err != nil:
		a.metrics.Messages.WithLabelValues(kind, OutcomeRetried).Inc()
		return err
	}
	// One line per message, at debug: at info it cost ~5% of the worker's CPU under load.
	// The attributes are only built when debug is on.
	debug := a.log.Enabled(msg.Context(), slog.LevelDebug)
	if res.Outcome == bolt.Duplicate {
		a.metrics.Messages.WithLabelValues(kind, OutcomeDuplicate).Inc()
		if debug {
			a.log.Debug("duplicate message", "invoice_id", m.InvoiceID, "msg_id", m.ID, "correlation_id", middleware.MessageCorrelationID(msg))
		}
		return nil
	}
	a.metrics.Messages.WithLabelValues(kind, OutcomeApplied).Inc()
	if debug {
		a.log.Debug("message applied", "invoice_id", m.InvoiceID, "msg_id", m.ID, "correlation_id", middleware.MessageCorrelationID(msg),
			"kind", m.Kind, "state_before", res.StateBefore, "state", res.Invoice.State, "events", len(res.Events))
	}
	if len(res.Events) > 0 {
		a.wake()
	}
	if res.Invoice.Confirmation != "" && a.claimed != nil { // a claim waits: a success to confirm or a not-final failure
		a.claimed()
	}
	return nil
}

// giveUp turns a transient error into a poison one once the message was delivered
// maxDeliveries times, so a message never blocks its shard (or vanishes) forever.
func giveUp(maxDeliveries uint64) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err != nil && !errors.Is(err, ErrPoison) && deliveries(msg) >= maxDeliveries {
				err = poison("gave up after %d deliveries: %v", deliveries(msg), err)
			}
			return out, err
		}
	}
}

// countPoisoned counts the messages the poison middleware took (its inner error).
func (a *applier) countPoisoned(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if errors.Is(err, ErrPoison) {
			a.metrics.Messages.WithLabelValues(kindOf(msg), OutcomePoisoned).Inc()
			a.log.Warn("message poisoned, to the DLQ", "msg_uuid", msg.UUID, "subject", msg.Metadata.Get(mdSubject),
				"stream_seq", msg.Metadata.Get(mdStreamSeq), "correlation_id", middleware.MessageCorrelationID(msg), "reason", err.Error())
		}
		return out, err
	}
}

// nakDelay is the redelivery delay after the n-th failed delivery: 1s doubling to 1 min.
func nakDelay(delivered uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < delivered && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

func itoa(n int) string { return strconv.Itoa(n) }
