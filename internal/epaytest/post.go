package epaytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// Post POSTs a callback body as application/json, as ePay does, and returns the
// response status. The response body is read (at most 64 KiB) and dropped so that the
// connection is reused.
func Post(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "epayflow-sandbox")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
