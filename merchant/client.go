package merchant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrConfig is wrapped by the errors of New.
var ErrConfig = errors.New("merchant client configuration")

// Config says where the services are and which keys to send.
type Config struct {
	// InitiatorURL is the initiator's base URL (make run: http://localhost:8080), and
	// APIKey one of its INITIATOR_API_KEYS: both needed for CreatePayment. Refund,
	// Charge and Cancel need a key of INITIATOR_OPERATE_KEYS (which also creates
	// payments); a key of INITIATOR_API_KEYS only gets 403 there.
	InitiatorURL string
	APIKey       string
	// WorkerURL is the worker's base URL (make run: http://localhost:8082), and ReadKey
	// a key of its WORKER_READ_KEYS: both needed for Invoice.
	WorkerURL string
	ReadKey   string
	// WebhooksURL is the webhooks service's base URL (make run: http://localhost:8084),
	// and WebhooksKey a key of its WEBHOOKS_API_KEYS: both needed for the endpoints.
	WebhooksURL string
	WebhooksKey string
	// HTTPClient sends the requests; default a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Validate reports a URL that is not absolute http(s), or a URL without its key,
// wrapping ErrConfig. A Config needs at least one of the three services.
func (c Config) Validate() error {
	if c.InitiatorURL == "" && c.WorkerURL == "" && c.WebhooksURL == "" {
		return fmt.Errorf("%w: no InitiatorURL, WorkerURL nor WebhooksURL", ErrConfig)
	}
	for _, s := range []struct{ name, url, keyName, key string }{
		{"InitiatorURL", c.InitiatorURL, "APIKey", c.APIKey},
		{"WorkerURL", c.WorkerURL, "ReadKey", c.ReadKey},
		{"WebhooksURL", c.WebhooksURL, "WebhooksKey", c.WebhooksKey},
	} {
		if s.url == "" {
			continue
		}
		u, err := url.Parse(s.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: %s %q is not an http(s) URL", ErrConfig, s.name, s.url)
		}
		if s.key == "" {
			return fmt.Errorf("%w: %s without %s", ErrConfig, s.name, s.keyName)
		}
	}
	return nil
}

// Client calls the initiator, the worker's read API and the webhooks API. It is safe
// for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a client for cfg, or an error wrapping ErrConfig.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.InitiatorURL = strings.TrimSuffix(cfg.InitiatorURL, "/")
	cfg.WorkerURL = strings.TrimSuffix(cfg.WorkerURL, "/")
	cfg.WebhooksURL = strings.TrimSuffix(cfg.WebhooksURL, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// maxAnswer bounds the answers read: an invoice's history is the largest.
const maxAnswer = 4 << 20

// call sends a JSON request with a Bearer key and decodes a 2xx answer into out; any
// other status is an *APIError. It returns the answer's header.
func (c *Client) call(ctx context.Context, method, target, key string, in any, hdr http.Header, out any) (http.Header, int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.Header, resp.StatusCode, newAPIError(method, req.URL.Path, resp, raw)
	}
	if resp.StatusCode == http.StatusNoContent {
		return resp.Header, resp.StatusCode, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.Header, resp.StatusCode, fmt.Errorf("%s %s: %d with a body that is not the documented JSON: %w", method, req.URL.Path, resp.StatusCode, err)
	}
	return resp.Header, resp.StatusCode, nil
}
