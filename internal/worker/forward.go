package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// HeaderForwardedBy marks a read forwarded by another worker (its store id): a forwarded
// read is answered from the local store only, never forwarded again.
const HeaderForwardedBy = "Epay-Forwarded-By"

// checkAdvertiseURL accepts "" or an http(s) URL with a host and nothing after it but a
// path prefix.
func checkAdvertiseURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http or https URL")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("want scheme://host:port, without user, query or fragment")
	}
	return nil
}

// forwarder sends the reads of invoices on shards this worker does not own to the
// worker that owns them (its URL is in its shard lease), so a client can ask any worker.
type forwarder struct {
	js     jetstream.JetStream
	shards int
	owns   func(shard int) bool // whether this worker consumes the shard now
	me     string               // this store's id, sent in HeaderForwardedBy
	signer inbox.StatusSigner   // checks an owner's URL (leaseOwner.URLSig)
	ttl    time.Duration        // the shard leases' (WORKER_SHARD_LEASE): how old a live one's signature can be
	client *http.Client
	log    *slog.Logger

	mu sync.Mutex
	kv jetstream.KeyValue // the leases bucket, once opened
}

func newForwarder(js jetstream.JetStream, shards int, owns func(int) bool, me string, signer inbox.StatusSigner, ttl time.Duration, log *slog.Logger) *forwarder {
	return &forwarder{js: js, shards: shards, owns: owns, me: me, signer: signer, ttl: ttl, log: log,
		// no client-wide timeout: each request has its own (forward), a read's 5 s and an
		// operation's OperationBudget, which a client-wide 5 s cut short
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// local says whether invoiceID's shard is this worker's.
func (f *forwarder) local(invoiceID string) bool { return f.owns(inbox.Shard(invoiceID, f.shards)) }

// ownerURL is the read API URL of the worker that owns shard: "" when no worker owns it
// now, or its owner advertises none.
func (f *forwarder) ownerURL(ctx context.Context, shard int) (string, error) {
	f.mu.Lock()
	kv := f.kv
	f.mu.Unlock()
	if kv == nil {
		var err error
		if kv, err = f.js.KeyValue(ctx, natsbus.ShardOwnersBucket); err != nil {
			return "", fmt.Errorf("shard owners bucket: %w", err)
		}
		f.mu.Lock()
		f.kv = kv
		f.mu.Unlock()
	}
	e, err := kv.Get(ctx, shardKey(shard))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var o leaseOwner
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return "", fmt.Errorf("shard %d's lease: %w", shard, err)
	}
	if checkAdvertiseURL(o.URL) != nil || o.Owner == f.me {
		return "", nil
	}
	if !f.signer.CheckAdvert(o.Owner, o.URL, o.Signed, o.URLSig) {
		// not a worker's: the request, and its caller's key, go nowhere
		return "", fmt.Errorf("shard %d's lease names URL %q for %q without the workers' signature (another WORKER_STATUS_KEY, or a forged lease): not forwarded", shard, o.URL, o.Owner)
	}
	if now := time.Now(); !advertFresh(o.Signed, now, f.ttl) {
		// a worker's once, put back: its address may be another's now
		return "", fmt.Errorf("shard %d's lease names URL %q for %q signed at %s, older than a live lease (%s): not forwarded", shard, o.URL, o.Owner,
			o.Signed.Format(time.RFC3339), f.ttl+advertSkew)
	}
	return o.URL, nil
}

// forward answers r (a read or an operation) from the owner of invoiceID's shard, with r's Authorization (the
// read keys are the same on every worker; the owner checks it again) and body: the handler read r's own
// body already (an operation's amount), so it is given here (nil for a read).
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, invoiceID string, body []byte) {
	shard := inbox.Shard(invoiceID, f.shards)
	if r.Header.Get(HeaderForwardedBy) != "" { // forwarded to the wrong worker: never again
		writeError(w, http.StatusNotFound, fmt.Sprintf("invoice %s not found: shard %d is not this worker's", invoiceID, shard))
		return
	}
	timeout := 5 * time.Second
	if r.Method != http.MethodGet { // an operation: a token, ePay's answer, two steps applied
		timeout = OperationBudget + 5*time.Second
	}
	// the timeout runs until the owner's answer begins: its body (a whole history may be
	// tens of MiB) then streams for as long as the reader reads, within the server's own
	// write timeout, never cut short by this one with a 200
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	answered := time.AfterFunc(timeout, cancel)
	base, err := f.ownerURL(ctx, shard)
	if err != nil {
		f.log.Warn("find the owner of a shard", "shard", shard, "err", err)
	}
	if base == "" {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("invoice %s is on shard %d, which no reachable worker owns now; try again", invoiceID, shard))
		return
	}
	// the same route on the owner: the read, or an operation with its body and key
	path := "/v1/invoices/" + url.PathEscape(invoiceID) + strings.TrimPrefix(r.URL.Path, "/v1/invoices/"+invoiceID)
	if h := r.URL.Query().Get("history"); r.Method == http.MethodGet && h != "" { // the read's one parameter, checked by the handler
		path += "?" + url.Values{"history": {h}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, base+path, bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot forward the request")
		return
	}
	for _, h := range []string{"Content-Type", IdempotencyKeyHeader} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set(HeaderForwardedBy, f.me)
	resp, err := f.client.Do(req)
	answered.Stop()
	if err != nil {
		f.log.Warn("forward a read to the shard's owner", "shard", shard, "owner", base, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusBadGateway, fmt.Sprintf("invoice %s is on shard %d, whose worker did not answer; try again", invoiceID, shard))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		panic(http.ErrAbortHandler) // a broken answer, never a whole-looking 200 cut short
	}
}
