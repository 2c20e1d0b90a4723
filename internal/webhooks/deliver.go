package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
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
	// slow: a delivery answered 2xx after this long is done, but counts against the
	// endpoint's breaker as a failure does (guarded).
	slow time.Duration
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
		a.Error = failure(err)
		s.log.Debug("webhook delivery failed", "endpoint", ep.ID, "event", ev.ID, "err", unwrapURL(err))
	case status >= 200 && status < 300:
		a.Result = "delivered"
	default:
		a.Error = fmt.Sprintf("HTTP %d", status)
	}
	return a
}

// failure is what the attempt log says of a request that got no answer: a class and
// nothing of the network behind it. The log is read by any API key holder, who may
// register any URL: the raw error told them which cluster-internal names resolve and to
// which addresses ("address not allowed: 10.96.0.12", "lookup x on 10.255.255.53:53"),
// and which ports answer.
func failure(err error) string {
	var dns *net.DNSError
	var hostname x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.Is(err, ErrForbiddenAddress) || errors.As(err, &dns) && dns.IsNotFound:
		// one class: two would tell which cluster-internal names exist
		return unreachable
	case errors.As(err, &dns):
		return "dns: the lookup failed"
	case errors.As(err, &hostname):
		return "tls: the certificate is not for this host"
	case errors.As(err, &unknown):
		return "tls: the certificate is not signed by a trusted authority"
	case errors.As(err, &invalid):
		return "tls: the certificate is not valid (expired or not yet valid)"
	case errors.As(err, &rec):
		return "tls: the endpoint does not speak TLS"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout: no answer within the delivery timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the endpoint before an answer"
	case strings.Contains(err.Error(), "response headers exceeded"):
		return fmt.Sprintf("answer headers over %d bytes", maxResponseHeader)
	case strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return "tls: the endpoint does not speak TLS"
	case strings.Contains(err.Error(), "tls:"):
		return "tls: the handshake failed"
	}
	return "the request failed"
}

// unreachable is the class of a host that does not resolve, or not to a public address.
const unreachable = "host not reachable: it does not resolve, or not to a public address"

// unwrapURL is err without the url.Error around it, whose text shows the URL (which may
// carry a token).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
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
			Error: "circuit open: endpoint paused after consecutive failures or slow answers"}
	}
	a := s.post(ctx, ep, ev, attempt)
	// An event is settled once every endpoint it goes to answered: one receiver that
	// answers 2xx but slowly held every event, so every endpoint's deliveries (one of
	// nine seconds let all of them through at under two events a second). A slow answer
	// counts as a failure for the breaker, which pauses such an endpoint like a failing
	// one: its events wait for it, the others' go on.
	fast := s.slow <= 0 || time.Duration(a.Duration*float64(time.Second)) < s.slow
	opened, closed := s.br.done(ep.ID, a.Result == "delivered" && fast, a.Result == "delivered", s.now())
	if opened {
		s.m.Opened.WithLabelValues(ep.ID).Inc()
		s.m.Paused.WithLabelValues(ep.ID).Set(1)
		s.log.Warn("webhook endpoint paused: circuit breaker open", "endpoint", ep.ID,
			"failures", s.br.threshold, "cooldown", s.br.cooldown.String(), "last_error", a.Error, "last_seconds", a.Duration)
	}
	if closed {
		s.m.Paused.WithLabelValues(ep.ID).Set(0)
		s.log.Info("webhook endpoint resumed: probe delivered", "endpoint", ep.ID)
	}
	return a
}
