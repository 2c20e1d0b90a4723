package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// ResolveRequest is the body of POST /v1/invoices/{invoiceId}/resolve.
type ResolveRequest struct {
	Decision invoice.Decision `json:"decision"`
	By       string           `json:"by"`
	Reason   string           `json:"reason"`
}

// ResolveAccepted is the 202 answer: the resolution is in the inbox, and the shard's
// owner had not applied it within the wait (no owner at the moment, a handover).
type ResolveAccepted struct {
	InvoiceID string `json:"invoiceId"`
	MessageID string `json:"messageId"`
}

// maxResolveBody bounds a resolve request's body.
const maxResolveBody = 8 << 10

// resolveWait bounds how long a resolve request waits for the owner to apply it.
const resolveWait = 5 * time.Second

// resolver serves POST /v1/invoices/{invoiceId}/resolve. Any worker answers for any
// invoice: it reads the invoice's record of state from the changelog (EPAY_STATE),
// publishes the resolution to the inbox signed with the workers' key, and waits until
// the record says the shard's owner applied it. Nothing is written anywhere else: the
// owner applies it in order with the invoice's other messages, once, like a callback.
type resolver struct {
	js      jetstream.JetStream
	changes *changelog
	msgs    *inbox.Builder
	signer  inbox.StatusSigner
	keys    []ReadKey
	wait    time.Duration
	now     func() time.Time
	log     *slog.Logger
}

// ServeHTTP answers 401 without a key, 403 with a key whose scope is not operator, 400
// for a malformed id or body, 404 for an unknown invoice, 409 for an invoice that needs
// no human (or that another decision resolved), 200 with the invoice once resolved (at
// once when it was resolved before with the same decision), 202 when the owner has not
// applied it within the wait, 503 when NATS does not answer.
func (rs *resolver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rd := reader(rs.keys, r)
	if rd == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="epayflow worker read API"`)
		writeError(w, http.StatusUnauthorized, "an operator key is required: Authorization: Bearer <key> (WORKER_READ_KEYS, scope operator)")
		return
	}
	if rd.Scope != ScopeOperator {
		writeError(w, http.StatusForbidden, "resolving an invoice needs a key of scope operator; this key's scope is "+rd.Scope)
		return
	}
	id := r.PathValue("invoiceId")
	if err := epay.ValidateInvoiceID(id); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := decodeResolve(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res.Operator, res.At = rd.Name, rs.now()
	ctx, cancel := context.WithTimeout(r.Context(), rs.wait+5*time.Second)
	defer cancel()
	rec, ok, err := rs.changes.last(ctx, id)
	switch {
	case err != nil:
		rs.unavailable(w, "read the invoice's record", id, err)
		return
	case !ok:
		writeError(w, http.StatusNotFound, "invoice "+id+" not found")
		return
	}
	inv := rec.Record.Invoice
	if !invoice.Resolvable(inv.State) {
		if inv.Resolution != nil && inv.Resolution.Decision == res.Decision {
			writeJSON(w, http.StatusOK, events.NewView(inv)) // asked again: done already
			return
		}
		writeError(w, http.StatusConflict, notResolvable(inv))
		return
	}
	res.Number = 1
	if inv.Resolution != nil {
		res.Number = inv.Resolution.Number + 1
	}
	msg, err := rs.msgs.Resolve(inbox.ResolveBody{InvoiceID: id, Resolution: res}, rs.signer, res.At)
	if err != nil {
		rs.unavailable(w, "build the resolution", id, err)
		return
	}
	if _, err := rs.js.PublishMsg(ctx, msg); err != nil {
		rs.unavailable(w, "publish the resolution", id, err)
		return
	}
	msgID := inbox.ResolveMsgID(id, res.Number, res.Decision) // the content id, as applied (its Nats-Msg-Id has a token)
	rs.log.Info("invoice resolution published", "invoice_id", id, "msg_id", msgID, "decision", res.Decision,
		"operator", res.Operator, "state_before", inv.State)
	after, applied := rs.applied(ctx, id, msgID)
	switch {
	case !applied:
		writeJSON(w, http.StatusAccepted, ResolveAccepted{InvoiceID: id, MessageID: msgID})
	case after.Resolution != nil && after.Resolution.Number == res.Number && after.Resolution.Decision == res.Decision:
		writeJSON(w, http.StatusOK, events.NewView(after))
	default: // another decision, or ePay, settled it first
		writeError(w, http.StatusConflict, notResolvable(after))
	}
}

// decodeResolve reads a request body strictly (one JSON object of known fields) and
// checks it as the state machine will.
func decodeResolve(body io.Reader) (invoice.Resolution, error) {
	dec := json.NewDecoder(io.LimitReader(body, maxResolveBody+1))
	dec.DisallowUnknownFields()
	var req ResolveRequest
	if err := dec.Decode(&req); err != nil {
		return invoice.Resolution{}, fmt.Errorf("the body must be a JSON object {decision, by, reason} of at most %d bytes: %v", maxResolveBody, err)
	}
	if dec.More() {
		return invoice.Resolution{}, errors.New("the body must be one JSON object")
	}
	res := invoice.Resolution{Number: 1, Decision: req.Decision, By: req.By, Reason: req.Reason, Operator: "-"}
	if err := res.Validate(); err != nil {
		return res, errors.New(strings.TrimPrefix(err.Error(), invoice.ErrInvalid.Error()+": "))
	}
	return res, nil
}

// notResolvable says why inv cannot be resolved.
func notResolvable(inv invoice.Invoice) string {
	if r := inv.Resolution; r != nil {
		return fmt.Sprintf("invoice %s was resolved %s by %s (operator %s) and is %s now", inv.InvoiceID, r.Decision, r.By, r.Operator, inv.State)
	}
	return fmt.Sprintf("invoice %s is %s: only an invoice in review or unmatched can be resolved", inv.InvoiceID, inv.State)
}

// applied waits until the invoice's record says msgID was applied, and returns the
// invoice then; false when the wait ended first.
func (rs *resolver) applied(ctx context.Context, invoiceID, msgID string) (invoice.Invoice, bool) {
	ctx, cancel := context.WithTimeout(ctx, rs.wait)
	defer cancel()
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 250*time.Millisecond) {
		rec, ok, err := rs.changes.last(ctx, invoiceID)
		if err == nil && ok && slices.Contains(rec.Record.Invoice.Applied, msgID) {
			return rec.Record.Invoice, true
		}
		select {
		case <-ctx.Done():
			return invoice.Invoice{}, false
		case <-time.After(pause):
		}
	}
}

func (rs *resolver) unavailable(w http.ResponseWriter, what, invoiceID string, err error) {
	rs.log.Warn("resolve: "+what, "invoice_id", invoiceID, "err", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "cannot "+what+" now (NATS); try again")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
