package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// natsOutageWithBacklog is the one-server form's NATS fault, made to hit the outbox while
// it holds events (issue 19: a kill of NATS with the outbox empty proves nothing about
// it). At 45% of the load PAYMENT_EVENTS stops taking events (its subjects moved away:
// each publish gets "no responders", the events it has are kept) while the other
// streams work, so the worker goes on applying changes and its outbox fills. Once a
// worker's outbox backlog (epayflow_worker_outbox_backlog) is above 0 and its relay has
// had a publish fail (epayflow_worker_event_publish_errors_total rose), at most 15 s,
// NATS is SIGKILLed with the backlog held, started again 1.5 s later, and
// PAYMENT_EVENTS given its subjects back. A relay that forgets entries it never had a
// PubAck for loses their events, and the verdict's check of every invoice's events
// against the oracle fails.
//
// It returns the backlog read just before the kill: the events the workers held with
// NATS gone, each of which must reach PAYMENT_EVENTS once all the same.
func (st *stack) natsOutageWithBacklog(ctx context.Context, cfg Config, kills *atomic.Int64) (held int) {
	if !sleep(ctx, cfg.Load*45/100) {
		return 0
	}
	// no worker kill until PAYMENT_EVENTS is back: a worker restarted meanwhile would
	// ensure the stream's subjects again, and one killed (its file maybe deleted) would
	// take the outbox the fault is about with it
	st.faults.Lock()
	defer st.faults.Unlock()
	restore, err := st.blockEvents(ctx)
	if err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: block PAYMENT_EVENTS: %v\n", err)
	} else {
		errs := st.publishErrors(ctx)
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && sleep(ctx, 20*time.Millisecond); {
			if held = st.outboxBacklog(ctx); held > 0 && st.publishFailed(ctx, errs) {
				break
			}
		}
		held = st.outboxBacklog(ctx)
	}
	if err := st.nats.Kill(5 * time.Second); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
	}
	st.killed("nats")
	kills.Add(1)
	fmt.Fprintf(cfg.Progress, "chaos: NATS killed with %d events in the outbox\n", held)
	time.Sleep(1500 * time.Millisecond)
	if err := st.nats.Start(); err != nil {
		fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
	}
	if restore != nil {
		// on a context of its own: the load may be over, the stream must come back
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := st.natsUp(rctx); err != nil {
			fmt.Fprintf(cfg.Progress, "chaos: NATS after the kill: %v\n", err)
		}
		if err := natsbus.EnsureUntil(rctx, slog.New(slog.DiscardHandler), "give PAYMENT_EVENTS its subjects back", restore); err != nil {
			fmt.Fprintf(cfg.Progress, "chaos: %v\n", err)
		}
		// and none until the held events are out: a worker file lost while its outbox
		// still holds the events of an invoice changed again since loses the earlier
		// ones (found by this fault under -race; not what it is about, reported apart)
		for deadline := time.Now().Add(time.Minute); st.outboxBacklog(rctx) > 0 && time.Now().Before(deadline); {
			sleep(rctx, 100*time.Millisecond)
		}
	}
	return held
}

// blockEvents moves PAYMENT_EVENTS' subjects away (its messages and duplicate window
// stay); restore gives them back.
func (st *stack) blockEvents(ctx context.Context) (restore func(context.Context) error, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := st.js.Stream(ctx, natsbus.StreamEvents)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	orig, blocked := info.Config, info.Config
	blocked.Subjects = []string{"chaos.blocked.events"}
	if _, err := st.js.UpdateStream(ctx, blocked); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := st.js.UpdateStream(ctx, orig)
		return err
	}, nil
}

// outboxBacklog is the live workers' outbox backlog, summed; a worker that does not
// answer (killed a moment ago) counts 0.
func (st *stack) outboxBacklog(ctx context.Context) int {
	n := 0
	for _, w := range st.workers.live() {
		n += int(metricNumber(ctx, w.url, "epayflow_worker_outbox_backlog"))
	}
	return n
}

// publishErrors is each live worker's publish failures so far, by name.
func (st *stack) publishErrors(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for _, w := range st.workers.live() {
		out[w.p.Name] = metricNumber(ctx, w.url, "epayflow_worker_event_publish_errors_total")
	}
	return out
}

// publishFailed: a worker's publish failures rose above before (its relay had a publish
// refused), or its counter started again (the worker restarted meanwhile).
func (st *stack) publishFailed(ctx context.Context, before map[string]float64) bool {
	for name, n := range st.publishErrors(ctx) {
		if n != before[name] {
			return true
		}
	}
	return false
}

// metricNumber is metric as a number; 0 when it cannot be read.
func metricNumber(ctx context.Context, baseURL, name string) float64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := metric(ctx, baseURL, name)
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}
