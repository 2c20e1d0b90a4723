package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// sender posts signed events to endpoints through the guarded client, minding the
// circuit breakers.
type sender struct {
	client *http.Client
	br     *breakers
	m      *Metrics
	log    *slog.Logger
	now    func() time.Time
}

// event is what a delivery needs of a payment event.
type event struct {
	ID, Type, InvoiceID string
	Seq                 uint64
	Body                []byte
}

// post sends ev to ep once and returns the attempt; Result is delivered or failed.
func (s *sender) post(ctx context.Context, ep Endpoint, ev event, attempt uint64) Attempt {
	start := s.now()
	a := Attempt{EventID: ev.ID, EventType: ev.Type, Attempt: attempt, At: start.UTC(), Result: "failed"}
	status, err := s.do(ctx, ep, ev, start)
	a.Duration = s.now().Sub(start).Seconds()
	a.Status = status
	s.m.Latency.WithLabelValues(ep.ID).Observe(a.Duration)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text would show the URL, which may carry a token
		}
		a.Error = err.Error()
	case status >= 200 && status < 300:
		a.Result = "delivered"
	default:
		a.Error = fmt.Sprintf("HTTP %d", status)
	}
	return a
}

func (s *sender) do(ctx context.Context, ep Endpoint, ev event, now time.Time) (int, error) {
	sig, err := Sign(ep.Signing(now), ev.ID, now, ev.Body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(ev.Body))
	if err != nil {
		return 0, err
	}
	// The body is a whole CloudEvent: the CloudEvents HTTP binding's structured mode, whose
	// Content-Type is the event format's. The Standard Webhooks names go on the wire in the
	// specification's lower case (set as map keys: Set would write Webhook-Id), as receivers
	// that look a header up by its exact name (PHP's getallheaders(), 1C) expect.
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "epayflow-webhooks")
	req.Header[HeaderID] = []string{ev.ID}
	req.Header[HeaderTimestamp] = []string{fmt.Sprint(now.Unix())}
	req.Header[HeaderSignature] = []string{sig}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// guarded is post behind the endpoint's breaker: paused when it is open.
func (s *sender) guarded(ctx context.Context, ep Endpoint, ev event, attempt uint64) Attempt {
	now := s.now()
	if !s.br.allow(ep.ID, now) {
		return Attempt{EventID: ev.ID, EventType: ev.Type, Attempt: attempt, At: now.UTC(), Result: "paused",
			Error: "circuit open: endpoint paused after consecutive failures"}
	}
	a := s.post(ctx, ep, ev, attempt)
	opened, closed := s.br.done(ep.ID, a.Result == "delivered", s.now())
	if opened {
		s.m.Opened.WithLabelValues(ep.ID).Inc()
		s.m.Paused.WithLabelValues(ep.ID).Set(1)
		s.log.Warn("webhook endpoint paused: circuit breaker open", "endpoint", ep.ID,
			"failures", s.br.threshold, "cooldown", s.br.cooldown.String(), "last_error", a.Error)
	}
	if closed {
		s.m.Paused.WithLabelValues(ep.ID).Set(0)
		s.log.Info("webhook endpoint resumed: probe delivered", "endpoint", ep.ID)
	}
	return a
}
