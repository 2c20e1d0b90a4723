package epayapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// maxBody bounds what is read of any ePay answer.
const maxBody = 1 << 20

// Client talks to ePay. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	m    *Metrics
	log  *slog.Logger
}

// New returns a client. metrics may be nil (not recorded), log may be nil (discarded).
func New(cfg Config, metrics *Metrics, log *slog.Logger) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{cfg: cfg, http: hc, m: metrics, log: log}, nil
}

// Terminal is the terminal id the client was configured with.
func (c *Client) Terminal() string { return c.cfg.Terminal }

// P2PTerminal is the terminal of P2P transfers: Config.P2PTerminal, or Terminal.
func (c *Client) P2PTerminal() string { return c.cfg.p2pTerminal() }

func (c Config) p2pTerminal() string { return cmp.Or(c.P2PTerminal, c.Terminal) }

// response is a non-5xx answer.
type response struct {
	status int
	body   []byte
}

// do sends the request newReq builds, once per attempt, and returns the first answer
// that is not a 5xx. Network errors and 5xx are retried with backoff; after the last
// attempt they become ErrTimeout or ErrEPayUnavailable.
func (c *Client) do(ctx context.Context, op string, newReq func(context.Context) (*http.Request, error)) (response, error) {
	var last error
	timedOut := false
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			c.log.Warn("epay request failed, retrying", "op", op, "attempt", attempt, "err", last)
			if err := c.pause(ctx, attempt); err != nil {
				break
			}
		}
		resp, err := c.attempt(ctx, newReq)
		if err == nil && resp.status < 500 {
			return resp, nil
		}
		if err != nil {
			last = err
			timedOut = isTimeout(err)
		} else {
			last = fmt.Errorf("HTTP %d", resp.status)
			timedOut = false
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return response{}, fmt.Errorf("epay %s: %w", op, ctx.Err())
	case timedOut || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return response{}, fmt.Errorf("%w: %s: %v", ErrTimeout, op, last)
	}
	return response{}, fmt.Errorf("%w: %s after %d attempts: %v", ErrEPayUnavailable, op, c.cfg.MaxAttempts, last)
}

func (c *Client) attempt(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (response, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := newReq(actx)
	if err != nil {
		return response{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, fmt.Errorf("read answer: %w", err)
	}
	return response{status: resp.StatusCode, body: body}, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

// pause waits BackoffBase * 2^(attempt-2), half of it jittered.
func (c *Client) pause(ctx context.Context, attempt int) error {
	d := c.cfg.BackoffBase << (attempt - 2)
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scrub removes the client secret, and the extra values (tokens in use), from text
// bound for an error.
func (c *Client) scrub(extra ...string) func(string) string {
	return func(s string) string {
		s = strings.ReplaceAll(s, string(c.cfg.ClientSecret), redacted)
		for _, t := range extra {
			if t != "" {
				s = strings.ReplaceAll(s, t, redacted)
			}
		}
		return s
	}
}
