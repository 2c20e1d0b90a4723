package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// Bucket is the key-value bucket of the endpoints (their secrets included), the attempt
// logs, the dead letters and the delivery progress. Only the webhooks NATS user may
// read it.
const Bucket = natsbus.WebhooksBucket

// Keys of the bucket:
//
//	endpoints.<id>           an Endpoint
//	attempts.<id>            the endpoint's last attemptLogSize Attempts
//	dead.<id>.<seq>          a DeadLetter: the event at stream sequence seq
//	done.<seq>               the endpoints an event in retry has been delivered to
//	pending.<id>.<invoice>   the stream sequences of an invoice's events not yet
//	                         delivered to an endpoint: only the lowest may be sent
//	retry.<id>.<seq>         a Retry: the failed attempts of the event at seq at the
//	                         endpoint, and when the next one is due
//	sealed                   Reseal's marker: the endpoints' secrets were sealed again once
//	position                 the consumer's ack floor, kept every few seconds: a
//	                         consumer deleted is made again from one past it
//	event.<id>               the stream sequence an event id was first stored at
//	                         (base64url of the id; expires after eventRecordTTL)
const attemptLogSize = 100

// markerTTL is how long the marker of a removed key stays: without it every event that
// was retried once would leave its done.<seq> marker behind for good. The bucket's
// configuration (natsbus.StreamsConfig.BucketConfig) has the same.
const markerTTL = natsbus.WebhooksMarkerTTL

// forget removes key, its marker expiring after markerTTL.
func (s *Store) forget(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return s.kv.Purge(ctx, key, append(opts, jetstream.PurgeTTL(markerTTL))...)
}

// Store keeps the webhooks' state in the bucket.
type Store struct {
	kv jetstream.KeyValue
	// stream is the bucket's stream: the latest write of any endpoint is read from it
	// (lastEndpointWrite).
	stream jetstream.Stream
	// sealer seals the endpoints' secrets (SealSecrets); nil: stored as they are. macKey
	// authenticates the records FirstCopy writes (nil without the secrets key).
	sealer *sealer
	macKey []byte
}

// SealSecrets makes the store keep the endpoints' secrets sealed with key
// (WEBHOOKS_SECRETS_KEY, 32 bytes) from now on, and open those it sealed.
func (s *Store) SealSecrets(key []byte) error {
	sl, err := newSealer(key)
	if err != nil {
		return fmt.Errorf("webhooks: WEBHOOKS_SECRETS_KEY: %w", err)
	}
	s.sealer = sl
	s.macKey = hmacKey(key)
	return nil
}

// hmacKey is the key of the bucket's records' MACs (FirstCopy), derived from the
// secrets key: never the sealing key itself.
func hmacKey(secretsKey []byte) []byte {
	m := hmac.New(sha256.New, secretsKey)
	m.Write([]byte("epayflow-webhooks-record-mac-v1"))
	return m.Sum(nil)
}

// OpenStore opens the bucket, which the worker makes (natsbus.EnsureBuckets), and
// returns its Store. The webhooks' NATS user may not create nor change a stream: with
// that it could give its bucket a RePublish into payments.>. A bucket not made yet is an
// error wrapping natsbus.ErrNotCreated.
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := natsbus.BindBucket(ctx, js, Bucket)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	stream, err := js.Stream(ctx, "KV_"+Bucket)
	if err != nil {
		return nil, fmt.Errorf("webhooks: bucket %s's stream: %w", Bucket, err)
	}
	return &Store{kv: kv, stream: stream}, nil
}

// lastEndpointWrite is the bucket revision of the latest write (or removal) of any
// endpoint, 0 for none.
func (s *Store) lastEndpointWrite(ctx context.Context) (uint64, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, "$KV."+Bucket+".endpoints.*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("webhooks: the latest endpoint write: %w", err)
	}
	return m.Sequence, nil
}

func (s *Store) getJSON(ctx context.Context, key string, v any) (uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return e.Revision(), json.Unmarshal(e.Value(), v)
}

func (s *Store) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, key, b)
	return err
}

// Endpoint returns the endpoint id, or ErrNotFound.
func (s *Store) Endpoint(ctx context.Context, id string) (Endpoint, error) {
	if !validID(id) {
		return Endpoint{}, ErrNotFound
	}
	e, _, err := s.getEndpoint(ctx, "endpoints."+id)
	return e, err
}

// getEndpoint reads the endpoint at key and its revision, its CreatedAt filled in
// (created).
func (s *Store) getEndpoint(ctx context.Context, key string) (Endpoint, uint64, error) {
	var e Endpoint
	kve, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return e, 0, ErrNotFound
	}
	if err != nil {
		return e, 0, err
	}
	e, err = s.decodeEndpoint(strings.TrimPrefix(key, "endpoints."), kve.Value())
	if err != nil {
		return e, 0, err
	}
	created(&e, kve)
	return e, kve.Revision(), nil
}

// created fills in the CreatedAt of an endpoint stored without one (PutEndpoint): the
// time the bucket stored its entry, by the NATS server's clock. Until its first change
// (UpdateEndpoint, which keeps the time) the entry is the one written at its creation.
func created(e *Endpoint, kve jetstream.KeyValueEntry) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = kve.Created().UTC()
	}
}

// PutEndpoint stores e, a new endpoint (its id fresh). A change to a stored one goes
// through UpdateEndpoint.
//
// A zero CreatedAt, as the API stores it, is the time the bucket stores the endpoint,
// by the NATS server's clock (created): the clock that stamps the events of
// PAYMENT_EVENTS, which the endpoint gets only when stored after it (Dispatcher.matching).
// This process's clock may be off the server's by seconds, and events stored that long
// before or after the registration would be sent or withheld wrongly.
func (s *Store) PutEndpoint(ctx context.Context, e Endpoint) error {
	b, err := s.encodeEndpoint(e)
	if err != nil {
		return err
	}
	_, err = s.kv.Create(ctx, "endpoints."+e.ID, b) // the entry that dates it: never over another
	return err
}

// UpdateEndpoint applies f to the endpoint id and stores the result by compare-and-set
// with the revision it read, and returns it as stored. A write without that condition
// loses a change made meanwhile (of two rotations at once, one secret handed to the
// merchant would never sign) or writes back an endpoint deleted meanwhile (its
// deliveries resume). A lost race reads again and applies f anew, up to endpointTries
// times, then ErrConflict; an endpoint that is not there, or was deleted meanwhile, is
// ErrNotFound; f's error is returned as it is, nothing stored.
func (s *Store) UpdateEndpoint(ctx context.Context, id string, f func(*Endpoint) error) (Endpoint, error) {
	if !validID(id) {
		return Endpoint{}, ErrNotFound
	}
	key := "endpoints." + id
	for i := range endpointTries {
		if i > 0 && !pause(ctx, time.Duration(1+rand.IntN(5*i))*time.Millisecond) {
			return Endpoint{}, ctx.Err()
		}
		e, rev, err := s.getEndpoint(ctx, key) // a deleted endpoint is ErrNotFound: never written back
		if err != nil {
			return Endpoint{}, err
		}
		if err := f(&e); err != nil {
			return Endpoint{}, err
		}
		b, err := s.encodeEndpoint(e)
		if err != nil {
			return Endpoint{}, err
		}
		if _, err = s.kv.Update(ctx, key, b, rev); err == nil {
			return e, nil
		}
		if !conflict(err) {
			return Endpoint{}, fmt.Errorf("webhooks: endpoint %s: %w", id, err)
		}
	}
	return Endpoint{}, fmt.Errorf("%w: endpoint %s was changed by other requests during each of this one's %d tries; try again",
		ErrConflict, id, endpointTries)
}

// endpointTries bounds UpdateEndpoint's compare-and-set retries: an endpoint is changed
// by its merchant's requests only, rarely several at once.
const endpointTries = 10

// DeleteEndpoint removes the endpoint and its attempt log; ErrNotFound if there is none.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	// not decoded: an endpoint that cannot be read (changed outside the API) is the one
	// an operator must be able to delete
	if _, err := s.kv.Get(ctx, "endpoints."+id); errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	if err := s.forget(ctx, "endpoints."+id); err != nil {
		return err
	}
	// Its attempts, dead letters and queues go too; an event in retry for it is acked
	// at its next attempt (no endpoint left to deliver it to). A delivery under way
	// writes nothing once it finds the endpoint gone (Dispatcher.gone), and what one
	// wrote between that check and this sweep goes with the dispatcher's (sweep).
	keys, err := s.keys(ctx, "*."+id+".>")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return err
	}
	for _, k := range append(keys, "attempts."+id) {
		if err := s.forget(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Reseal seals again, the way this version does, every endpoint secret stored as it is
// (from before WEBHOOKS_SECRETS_KEY was set) or sealed the v1 way (bound to the endpoint's
// id alone), and says how many endpoints it wrote. Run calls it at the start, after
// SealSecrets; from then on such a secret is refused (ErrUnsealed). It runs once: then
// it writes the entry "sealed" (a MAC of the key), and a start that finds it, or finds
// an endpoint sealed this way already (the entry deleted), reseals nothing: an entry a
// writer of the bucket planted with a secret of its own would be made legitimate by the
// next restart. An entry it cannot read is left as it is (counted unreadable).
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, nil
	}
	marker := []byte(s.recordMAC("sealed", "v2"))
	if e, err := s.kv.Get(ctx, sealedEntry); err == nil && hmac.Equal(e.Value(), marker) {
		return 0, nil
	} else if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, err
	}
	keys, err := s.keys(ctx, "endpoints.*")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, err
	}
	for _, key := range keys {
		kve, err := s.kv.Get(ctx, key)
		if err == nil && strings.Contains(string(kve.Value()), `"value":"`+sealedPrefix) {
			if _, err := s.decodeEndpoint(strings.TrimPrefix(key, "endpoints."), kve.Value()); err == nil {
				return 0, s.markSealed(ctx, marker) // resealed before: the marker was deleted
			}
		}
	}
	n := 0
	for _, key := range keys {
		kve, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		id := strings.TrimPrefix(key, "endpoints.")
		if _, err := s.decodeEndpoint(id, kve.Value()); err == nil || !errors.Is(err, ErrUnsealed) {
			continue // sealed as this version does, or unreadable either way
		}
		e, err := s.decodeEndpointAs(id, kve.Value(), true)
		if err != nil {
			continue
		}
		b, err := s.encodeEndpoint(e)
		if err != nil {
			return n, err
		}
		if _, err := s.kv.Update(ctx, key, b, kve.Revision()); err != nil && !conflict(err) {
			return n, fmt.Errorf("webhooks: reseal endpoint %s: %w", id, err)
		}
		n++
	}
	return n, s.markSealed(ctx, marker)
}

// sealedEntry is the bucket's key of Reseal's marker.
const sealedEntry = "sealed"

func (s *Store) markSealed(ctx context.Context, marker []byte) error {
	_, err := s.kv.Put(ctx, sealedEntry, marker)
	return err
}

// keys lists the keys matching any of the filters ("" when there are none).
func (s *Store) keys(ctx context.Context, filters ...string) ([]string, error) {
	l, err := s.kv.ListKeysFiltered(ctx, filters...)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	_ = l.Stop() // after the last key the lister has stopped itself: "invalid subscription"
	return out, nil
}

// Endpoints returns every endpoint, by id.
func (s *Store) Endpoints(ctx context.Context) ([]Endpoint, error) {
	keys, err := s.keys(ctx, "endpoints.*")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, err
	}
	slices.Sort(keys)
	out := make([]Endpoint, 0, len(keys))
	for _, k := range keys {
		kve, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		e, err := s.decodeEndpoint(strings.TrimPrefix(k, "endpoints."), kve.Value())
		if err != nil {
			// an entry that cannot be read (the dispatcher logs and counts it): left out
			// of the listing, which would otherwise fail whole; DELETE removes it
			continue
		}
		created(&e, kve)
		out = append(out, e)
	}
	return out, nil
}

// Attempt is one delivery attempt, as GET .../attempts shows it.
type Attempt struct {
	EventID   string    `json:"eventId"`
	EventType string    `json:"eventType"`
	Attempt   uint64    `json:"attempt"`
	At        time.Time `json:"at"`
	// Result is delivered, failed, paused (circuit open, no request), waiting (behind an
	// earlier event of the invoice) or dead (moved to the dead letter); for a dead letter
	// through the API, replayed, replay-failed or discarded (removed, not delivered).
	Result   string  `json:"result"`
	Status   int     `json:"status,omitempty"`
	Error    string  `json:"error,omitempty"`
	Duration float64 `json:"durationSeconds"`
}

// AddAttempt appends a to the endpoint's log, keeping the last attemptLogSize. The log is
// one key per endpoint written by compare-and-set, and every event in flight for the
// endpoint writes it (16 at once by default, more with replicas): a lost race is tried
// again after a short random pause, up to attemptLogTries times.
func (s *Store) AddAttempt(ctx context.Context, id string, a Attempt) error {
	for i := range attemptLogTries {
		if i > 0 && !pause(ctx, time.Duration(1+rand.IntN(5*i))*time.Millisecond) {
			return ctx.Err()
		}
		var log []Attempt
		rev, err := s.getJSON(ctx, "attempts."+id, &log)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		log = append(log, a)
		if len(log) > attemptLogSize {
			log = log[len(log)-attemptLogSize:]
		}
		b, _ := json.Marshal(log)
		if rev == 0 {
			_, err = s.kv.Create(ctx, "attempts."+id, b)
		} else {
			_, err = s.kv.Update(ctx, "attempts."+id, b, rev)
		}
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return fmt.Errorf("webhooks: attempt log: %w", err)
		}
	}
	return errors.New("webhooks: attempt log: too much contention")
}

// Attempts returns the endpoint's log, newest first.
func (s *Store) Attempts(ctx context.Context, id string) ([]Attempt, error) {
	if _, err := s.Endpoint(ctx, id); err != nil {
		return nil, err
	}
	log := []Attempt{} // [] rather than null before the first attempt
	if _, err := s.getJSON(ctx, "attempts."+id, &log); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	slices.Reverse(log)
	return log, nil
}

// DeadLetter is an event that exhausted its retries for an endpoint.
type DeadLetter struct {
	Seq       uint64          `json:"seq"`
	EventID   string          `json:"eventId"`
	EventType string          `json:"eventType"`
	InvoiceID string          `json:"invoiceId"`
	FailedAt  time.Time       `json:"failedAt"`
	LastError string          `json:"lastError"`
	Event     json.RawMessage `json:"event"`
}

// hasEvent says whether d carries its event: not so one dead-lettered after its event
// was gone from PAYMENT_EVENTS (Dispatcher.repair), which has neither its id nor its body
// and cannot be replayed.
func (d DeadLetter) hasEvent() bool {
	return d.EventID != "" && len(d.Event) > 0 && string(d.Event) != "null"
}

// PutDead stores d as a dead letter of the endpoint.
func (s *Store) PutDead(ctx context.Context, id string, d DeadLetter) error {
	return s.putJSON(ctx, deadKey(id, d.Seq), d)
}

func deadKey(id string, seq uint64) string { return "dead." + id + "." + strconv.FormatUint(seq, 10) }

// Dead returns the endpoint's dead letters, oldest first.
//
// At most limit, those with a seq past after; next is the seq to read on from (0: none
// left). Only the keys are listed for the rest: each dead letter read holds its event.
func (s *Store) Dead(ctx context.Context, id string, after uint64, limit int) (out []DeadLetter, next uint64, err error) {
	if _, err := s.Endpoint(ctx, id); err != nil {
		return nil, 0, err
	}
	keys, err := s.keys(ctx, "dead."+id+".*")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, 0, err
	}
	var seqs []uint64
	for _, k := range keys {
		if seq, err := strconv.ParseUint(k[strings.LastIndexByte(k, '.')+1:], 10, 64); err == nil && seq > after {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	if len(seqs) > limit {
		seqs, next = seqs[:limit], seqs[limit-1]
	}
	out = make([]DeadLetter, 0, len(seqs))
	for _, seq := range seqs {
		var d DeadLetter
		if _, err := s.getJSON(ctx, deadKey(id, seq), &d); err == nil {
			out = append(out, d)
		}
	}
	return out, next, nil
}

// DeadLetter returns one dead letter, or ErrNotFound.
func (s *Store) DeadLetter(ctx context.Context, id string, seq uint64) (DeadLetter, error) {
	var d DeadLetter
	if !validID(id) {
		return d, ErrNotFound
	}
	_, err := s.getJSON(ctx, deadKey(id, seq), &d)
	return d, err
}

// DeleteDead removes a dead letter (after its replay, or discarded).
func (s *Store) DeleteDead(ctx context.Context, id string, seq uint64) error {
	return s.forget(ctx, deadKey(id, seq))
}

// FirstCopy records (stream, seq) as where event id was first stored, for ttl, unless a
// record of it is there already, and reports whether (stream, seq) is that place
// (Dispatcher.firstCopy). stream names the PAYMENT_EVENTS it was read from (its creation
// time): a record of an earlier stream of that name (deleted and made again, whose
// sequences start over) is replaced, and so is one whose MAC does not verify (planted by
// a writer of the bucket to keep a genuine event from being delivered).
func (s *Store) FirstCopy(ctx context.Context, id, stream string, seq uint64, ttl time.Duration) (bool, error) {
	key := "event." + base64.RawURLEncoding.EncodeToString([]byte(id))
	here := stream + " " + strconv.FormatUint(seq, 10)
	val := []byte(here + " " + s.recordMAC(id, here))
	for range 3 {
		// read first: a redelivery of the first copy answers from the record without a
		// write (which a bucket refusing writes would fail)
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			_, err = s.kv.Create(ctx, key, val, jetstream.KeyTTL(ttl))
			if err == nil {
				return true, nil
			}
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // made meanwhile by another replica: read it
			}
			return false, err
		}
		if err != nil {
			return false, err
		}
		at, mac, _ := strings.Cut(string(e.Value()), " ") // stream
		at2, mac, _ := strings.Cut(mac, " ")              // seq
		rec := at + " " + at2
		if hmac.Equal([]byte(mac), []byte(s.recordMAC(id, rec))) && at == stream {
			return rec == here, nil
		}
		// planted, or of a stream that is gone: this is the first copy
		if _, err := s.kv.Update(ctx, key, val, e.Revision()); err != nil && !conflict(err) {
			return false, err
		}
		return true, nil
	}
	return false, fmt.Errorf("webhooks: the record of event %s keeps changing", id)
}

// recordMAC authenticates a record of event id ("" without the secrets key).
func (s *Store) recordMAC(id, rec string) string {
	if s.macKey == nil {
		return ""
	}
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(id + "\n" + rec))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Position is the consumer's ack floor on the PAYMENT_EVENTS named by Stream (its
// creation time).
type Position struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
}

// Position returns the position last kept (zero: none, or one that cannot be read).
func (s *Store) Position(ctx context.Context) (Position, error) {
	var p Position
	if _, err := s.getJSON(ctx, positionEntry, &p); err != nil && !errors.Is(err, ErrNotFound) {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syntax) || errors.As(err, &typ) {
			return Position{}, nil
		}
		return Position{}, err
	}
	return p, nil
}

// SetPosition keeps p.
func (s *Store) SetPosition(ctx context.Context, p Position) error {
	return s.putJSON(ctx, positionEntry, p)
}

const positionEntry = "position"

// Done returns the endpoints the event at seq was delivered to (or dead-lettered for).
func (s *Store) Done(ctx context.Context, seq uint64) (map[string]bool, error) {
	var ids []string
	if _, err := s.getJSON(ctx, "done."+strconv.FormatUint(seq, 10), &ids); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// SetDone records the endpoints the event at seq is done with, or forgets them (nil).
func (s *Store) SetDone(ctx context.Context, seq uint64, done map[string]bool) error {
	key := "done." + strconv.FormatUint(seq, 10)
	if done == nil {
		return s.forget(ctx, key)
	}
	ids := make([]string, 0, len(done))
	for id := range done {
		ids = append(ids, id)
	}
	return s.putJSON(ctx, key, ids)
}

// Queue returns the stream sequences of the invoice's events not yet delivered to the
// endpoint (in retry, or waiting behind one in retry), lowest first.
func (s *Store) Queue(ctx context.Context, id, invoiceKey string) ([]uint64, error) {
	var q []uint64
	_, err := s.getJSON(ctx, "pending."+id+"."+invoiceKey, &q)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	return q, err
}

// Enqueue adds seq to the invoice's queue for the endpoint (once) and returns the queue.
func (s *Store) Enqueue(ctx context.Context, id, invoiceKey string, seq uint64) ([]uint64, error) {
	return s.updateQueue(ctx, id, invoiceKey, func(q []uint64) ([]uint64, bool) {
		i, found := slices.BinarySearch(q, seq)
		if found {
			return q, false
		}
		return slices.Insert(q, i, seq), true
	})
}

// Dequeue removes seq from the invoice's queue for the endpoint.
func (s *Store) Dequeue(ctx context.Context, id, invoiceKey string, seq uint64) error {
	_, err := s.updateQueue(ctx, id, invoiceKey, func(q []uint64) ([]uint64, bool) {
		i, found := slices.BinarySearch(q, seq)
		if !found {
			return q, false
		}
		return slices.Delete(q, i, i+1), true
	})
	return err
}

// updateQueue applies f to the queue with compare-and-set (replicas of the service may
// change it at once) and returns the queue; f says whether it changed it. An empty queue
// is removed.
func (s *Store) updateQueue(ctx context.Context, id, invoiceKey string, f func([]uint64) ([]uint64, bool)) ([]uint64, error) {
	key := "pending." + id + "." + invoiceKey
	var err error
	for range 10 {
		var q []uint64
		var rev uint64
		rev, err = s.getJSON(ctx, key, &q)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		q, changed := f(q)
		switch {
		case !changed:
			return q, nil
		case len(q) == 0 && rev == 0:
			return q, nil
		case len(q) == 0:
			err = s.forget(ctx, key, jetstream.LastRevision(rev))
		case rev == 0:
			b, _ := json.Marshal(q)
			_, err = s.kv.Create(ctx, key, b)
		default:
			b, _ := json.Marshal(q)
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return q, nil
		}
		if !conflict(err) {
			return nil, fmt.Errorf("webhooks: invoice queue: %w", err)
		}
	}
	return nil, fmt.Errorf("webhooks: invoice queue: too much contention: %w", err)
}

// conflict says whether err is a compare-and-set lost to another writer (worth trying
// again at once) rather than the bucket refusing the write.
func conflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Retry is an event's progress at an endpoint while it is in retry: its failed attempts
// (waiting behind an earlier event of the invoice is none) and when the next is due.
type Retry struct {
	Failures uint64    `json:"failures"`
	Next     time.Time `json:"next"`
	// WaitingFor and WaitingSince: the earlier event of the invoice (its stream
	// sequence) this one has waited behind, and since when (Dispatcher.stranded).
	WaitingFor   uint64    `json:"waitingFor,omitempty"`
	WaitingSince time.Time `json:"waitingSince,omitzero"`
}

func retryKey(id string, seq uint64) string { return "retry." + id + "." + strconv.FormatUint(seq, 10) }

// Retry returns the event's Retry at the endpoint; the zero Retry if it has none.
func (s *Store) Retry(ctx context.Context, id string, seq uint64) (Retry, error) {
	var r Retry
	_, err := s.getJSON(ctx, retryKey(id, seq), &r)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	return r, err
}

// PutRetry stores the event's Retry at the endpoint.
func (s *Store) PutRetry(ctx context.Context, id string, seq uint64, r Retry) error {
	return s.putJSON(ctx, retryKey(id, seq), r)
}

// DeleteRetry forgets the event's Retry at the endpoint (it is done).
func (s *Store) DeleteRetry(ctx context.Context, id string, seq uint64) error {
	return s.forget(ctx, retryKey(id, seq))
}

// attemptLogTries bounds AddAttempt's compare-and-set retries.
const attemptLogTries = 30

// pause waits d unless ctx ends first (false).
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
