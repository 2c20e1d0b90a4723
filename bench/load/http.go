package load

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// NewHTTPClient is a client with one kept-alive connection per sender.
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

// PostCallbacks POSTs callback i mod len(cbs) to its route under base.
func PostCallbacks(client *http.Client, base string, cbs []Callback) Op {
	return func(ctx context.Context, i int, _ time.Time) (int, error) {
		cb := cbs[i%len(cbs)]
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+cb.Route, bytes.NewReader(cb.Body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
}
