package webhooks

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
)

// API serves /v1/webhooks/endpoints.
type API struct {
	cfg   Config
	store *Store
	send  *sender
	// fetch reads an event back from PAYMENT_EVENTS by its sequence, checked as the
	// dispatcher checks what it delivers (Dispatcher.fetch; nil: none, replays refused).
	fetch func(ctx context.Context, seq uint64) ([]byte, error)
	keys  [][32]byte
	log   *slog.Logger
}

// NewAPI returns the API on store; d's sender replays dead letters.
func NewAPI(cfg Config, store *Store, d *Dispatcher, log *slog.Logger) *API {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keys := make([][32]byte, len(cfg.APIKeys))
	for i, k := range cfg.APIKeys {
		keys[i] = sha256.Sum256([]byte(k))
	}
	return &API{cfg: cfg, store: store, send: d.send, fetch: d.fetchEvent, keys: keys, log: log}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	const p = "/v1/webhooks/endpoints"
	mux.HandleFunc("POST "+p, a.auth(a.create))
	mux.HandleFunc("GET "+p, a.auth(a.list))
	mux.HandleFunc("GET "+p+"/{id}", a.auth(a.get))
	mux.HandleFunc("DELETE "+p+"/{id}", a.auth(a.delete))
	mux.HandleFunc("POST "+p+"/{id}/rotate-secret", a.auth(a.rotate))
	mux.HandleFunc("GET "+p+"/{id}/attempts", a.auth(a.attempts))
	mux.HandleFunc("GET "+p+"/{id}/dead-letters", a.auth(a.dead))
	mux.HandleFunc("POST "+p+"/{id}/dead-letters/{seq}/replay", a.auth(a.replay))
	mux.HandleFunc("DELETE "+p+"/{id}/dead-letters/{seq}", a.auth(a.discard))
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(key))
		found := 0
		for _, k := range a.keys {
			found |= subtle.ConstantTimeCompare(sum[:], k[:])
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || found == 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="epayflow"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{"missing or unknown API key: send Authorization: Bearer <key>"})
			return
		}
		h(w, r)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps an error to its status: the one table of the API.
func (a *API) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{"not found"})
	case errors.Is(err, ErrConflict):
		writeJSON(w, http.StatusConflict, errorBody{err.Error()})
	default:
		a.log.Error("webhooks API", "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
	}
}

// Created is the answer to a registration or a rotation: the only time the secret is shown.
type Created struct {
	View
	Secret string `json:"secret"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var n NewEndpoint
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		a.fail(w, fmt.Errorf("%w: body: %v", ErrInvalid, err))
		return
	}
	if err := n.Validate(a.cfg.AllowHTTP); err != nil {
		a.fail(w, err)
		return
	}
	if err := reachable(n.URL, Guard{Allow: a.cfg.AllowPrivate}, a.cfg.Env == epay.EnvProd); err != nil {
		a.fail(w, err)
		return
	}
	switch n, err := a.store.keys(r.Context(), "endpoints.*"); {
	case err != nil && !errors.Is(err, jetstream.ErrNoKeysFound):
		a.fail(w, err)
		return
	case len(n) >= a.cfg.MaxEndpoints:
		a.fail(w, fmt.Errorf("%w: %d endpoints are registered, the most this service takes (delete one first)", ErrConflict, len(n)))
		return
	}
	secret, err := NewSecret()
	if err != nil {
		a.fail(w, err)
		return
	}
	// No CreatedAt: the bucket dates the endpoint by the NATS server's clock, which dates
	// the events too (Store.PutEndpoint); the answer shows it as stored.
	ep := Endpoint{ID: newID(), URL: n.URL, EventTypes: n.EventTypes, Description: n.Description,
		Secrets: []Secret{{Value: secret}}}
	if err := a.store.PutEndpoint(r.Context(), ep); err != nil {
		a.fail(w, err)
		return
	}
	if ep, err = a.store.Endpoint(r.Context(), ep.ID); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, Created{View: ep.View(), Secret: secret})
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	eps, err := a.store.Endpoints(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	views := make([]View, len(eps))
	for i, e := range eps {
		views[i] = e.View()
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": views})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	ep, err := a.store.Endpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ep.View())
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.store.DeleteEndpoint(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotate answers the new secret only once it is stored: by compare-and-set
// (Store.UpdateEndpoint), so that a rotation at the same time keeps it (as the previous
// one, signing through the overlap) and a DELETE meanwhile makes this a 404 rather than
// the endpoint written back.
func (a *API) rotate(w http.ResponseWriter, r *http.Request) {
	var secret string
	ep, err := a.store.UpdateEndpoint(r.Context(), r.PathValue("id"), func(e *Endpoint) error {
		var err error
		secret, err = e.Rotate(time.Now(), a.cfg.RotationOverlap) // anew at each try: of the endpoint as read
		return err
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Created{View: ep.View(), Secret: secret})
}

func (a *API) attempts(w http.ResponseWriter, r *http.Request) {
	log, err := a.store.Attempts(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"attempts": log})
}

func (a *API) dead(w http.ResponseWriter, r *http.Request) {
	after, limit, err := page(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	dl, next, err := a.store.Dead(r.Context(), r.PathValue("id"), after, limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	body := map[string]any{"deadLetters": dl}
	if next > 0 {
		body["next"] = next // ?after=next reads on
	}
	writeJSON(w, http.StatusOK, body)
}

// page reads a listing's ?after= (a seq: the entries after it; 0, the first) and ?limit=
// (1 to maxPage; default defaultPage).
func page(r *http.Request) (after uint64, limit int, err error) {
	q := r.URL.Query()
	limit = defaultPage
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%w: after %q: want a seq", ErrInvalid, clip(s))
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxPage {
			return 0, 0, fmt.Errorf("%w: limit %q: want 1 to %d", ErrInvalid, clip(s), maxPage)
		}
	}
	return after, limit, nil
}

const (
	defaultPage = 100
	maxPage     = 1000
)

// deadLetter reads the endpoint and the dead letter a request names ({id}, {seq}), and
// the seq of its key, or answers the error (404 for either unknown) and returns false.
func (a *API) deadLetter(w http.ResponseWriter, r *http.Request) (Endpoint, DeadLetter, uint64, bool) {
	id := r.PathValue("id")
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		a.fail(w, ErrNotFound)
		return Endpoint{}, DeadLetter{}, 0, false
	}
	ep, err := a.store.Endpoint(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return Endpoint{}, DeadLetter{}, 0, false
	}
	dl, err := a.store.DeadLetter(r.Context(), id, seq)
	if err != nil {
		a.fail(w, err)
		return Endpoint{}, DeadLetter{}, 0, false
	}
	return ep, dl, seq, true
}

// discard removes a dead letter without delivering it (204): one that cannot be replayed
// (its event gone from PAYMENT_EVENTS, or refused) or that the merchant no longer wants,
// which would otherwise keep the dead letters' alert firing until the endpoint is
// deleted. The endpoint's attempts keep a "discarded" entry, the record of an event
// never delivered.
func (a *API) discard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	_, dl, seq, ok := a.deadLetter(w, r)
	if !ok {
		return
	}
	at := Attempt{EventID: dl.EventID, EventType: dl.EventType, At: time.Now().UTC(), Result: "discarded",
		Error: "dead letter " + strconv.FormatUint(seq, 10) + " discarded through the API, not delivered (invoice " + dl.InvoiceID + ")"}
	if err := a.store.AddAttempt(r.Context(), id, at); err != nil { // the record first: never a dead letter gone without one
		a.fail(w, err)
		return
	}
	if err := a.store.DeleteDead(r.Context(), id, seq); err != nil {
		a.fail(w, err)
		return
	}
	a.send.m.Deliveries.WithLabelValues(id, at.Result).Inc()
	a.log.Warn("dead letter discarded: its event was not delivered", "endpoint", id, "seq", seq, "event_id", dl.EventID, "invoice_id", dl.InvoiceID)
	w.WriteHeader(http.StatusNoContent)
}

// replay posts a dead letter again now; delivered, it leaves the dead letter (200), else
// it stays (502 with the attempt). A dead letter without its event is refused (409).
func (a *API) replay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ep, dl, seq, ok := a.deadLetter(w, r)
	if !ok {
		return
	}
	if !dl.hasEvent() {
		// Posting it would send webhook-id "" and a body of null, validly signed: a
		// receiver that answers 2xx to anything would remove the dead letter as replayed
		// while the event was never delivered.
		a.fail(w, fmt.Errorf("%w: dead letter %d cannot be replayed: its event was gone from PAYMENT_EVENTS before "+
			"it could be delivered, so there is nothing to send (look invoice %q up instead); the dead letter "+
			"stays, the record of a lost event", ErrConflict, seq, dl.InvoiceID))
		return
	}
	// What is sent is the event as PAYMENT_EVENTS holds it, checked as a delivery is,
	// never the dead letter's copy: the bucket is writable in ways the stream is not.
	body, err := a.fetch(r.Context(), dl.Seq)
	if err != nil {
		a.fail(w, fmt.Errorf("%w: dead letter %d cannot be replayed: its event is gone from PAYMENT_EVENTS, or not one the workers "+
			"signed (%v); look invoice %q up instead; the dead letter stays", ErrConflict, seq, err, dl.InvoiceID))
		return
	}
	var ce struct{ ID string }
	if json.Unmarshal(body, &ce) != nil || ce.ID != dl.EventID {
		a.fail(w, fmt.Errorf("%w: dead letter %d is event %q, PAYMENT_EVENTS holds %q at its sequence: not replayed", ErrConflict, seq, dl.EventID, ce.ID))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout+time.Second)
	defer cancel()
	at := a.send.post(ctx, ep, event{ID: dl.EventID, Type: dl.EventType, InvoiceID: dl.InvoiceID, Seq: dl.Seq, Body: body}, 0)
	at.Result = map[bool]string{true: "replayed", false: "replay-failed"}[at.Result == "delivered"]
	a.send.m.Deliveries.WithLabelValues(id, at.Result).Inc()
	if err := a.store.AddAttempt(r.Context(), id, at); err != nil {
		a.fail(w, err)
		return
	}
	if at.Result != "replayed" {
		writeJSON(w, http.StatusBadGateway, at)
		return
	}
	if err := a.store.DeleteDead(r.Context(), id, seq); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, at)
}
