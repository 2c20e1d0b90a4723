package merchant

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// NewWebhookEndpoint is the body of POST /v1/webhooks/endpoints (webhooks.yaml,
// NewEndpoint).
type NewWebhookEndpoint struct {
	// URL is https:// on a public address (the local stack also takes http:// on
	// loopback), without credentials.
	URL string `json:"url"`
	// EventTypes are the event types delivered (EventPaid, ...); empty for every event.
	EventTypes  []string `json:"eventTypes,omitempty"`
	Description string   `json:"description,omitempty"`
}

// WebhookEndpoint is an endpoint as the webhooks API shows it (webhooks.yaml, Created;
// Secret only in the answers to its creation and to a rotation).
type WebhookEndpoint struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	EventTypes  []string  `json:"eventTypes,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	// Secret is the signing secret (whsec_...): keep it in your secret store and give
	// it to NewWebhookVerifier; the API never shows it again.
	Secret string `json:"secret,omitempty"`
}

// CreateWebhookEndpoint registers an endpoint with the webhooks service and returns it
// with its signing secret. The errors are an *APIError (ErrInvalid: a URL or event type
// refused, named in Message; ErrUnauthorized) or the transport's.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, e NewWebhookEndpoint) (*WebhookEndpoint, error) {
	if c.cfg.WebhooksURL == "" {
		return nil, errNoService("WebhooksURL")
	}
	var out WebhookEndpoint
	if _, _, err := c.call(ctx, http.MethodPost, c.cfg.WebhooksURL+"/v1/webhooks/endpoints", c.cfg.WebhooksKey, e, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebhookEndpoint reads an endpoint (without its secret). An unknown id is ErrNotFound.
func (c *Client) WebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error) {
	return c.endpointCall(ctx, http.MethodGet, id, "")
}

// RotateWebhookSecret gives the endpoint a new secret, returned in Secret. For 24 hours
// the old one signs too: deploy the new one beside it (NewWebhookVerifier(old, new)).
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*WebhookEndpoint, error) {
	return c.endpointCall(ctx, http.MethodPost, id, "/rotate-secret")
}

// DeleteWebhookEndpoint stops the deliveries to an endpoint. An unknown id is ErrNotFound.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	_, err := c.endpointCall(ctx, http.MethodDelete, id, "")
	return err
}

func (c *Client) endpointCall(ctx context.Context, method, id, suffix string) (*WebhookEndpoint, error) {
	if c.cfg.WebhooksURL == "" {
		return nil, errNoService("WebhooksURL")
	}
	var out WebhookEndpoint
	target := c.cfg.WebhooksURL + "/v1/webhooks/endpoints/" + url.PathEscape(id) + suffix
	if _, _, err := c.call(ctx, method, target, c.cfg.WebhooksKey, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
