package initiator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// IdempotencyKeyHeader is the optional header of POST /v1/payments.
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKeyLen bounds an Idempotency-Key; its characters are A-Z a-z 0-9 - _ . :
// (a UUID, a ULID or "order-42:attempt" fit).
const MaxIdempotencyKeyLen = 128

// IdempotencyBucket is the JetStream key-value bucket where the initiator remembers
// which invoice each Idempotency-Key made; its stream is "KV_" + IdempotencyBucket. The
// worker makes it (natsbus.StreamsConfig.BucketConfig has its configuration).
const IdempotencyBucket = natsbus.IdempotencyBucket

// IdempotencyBucketBytes bounds the bucket: about 300,000 keys. When it is full, a
// request with a new key is refused (503, nothing created) until records expire;
// requests without a key go on.
const IdempotencyBucketBytes = natsbus.IdempotencyBucketBytes

// ErrIdempotencyConflict: the Idempotency-Key was used with another request.
var ErrIdempotencyConflict = errors.New("the Idempotency-Key was used with another request")

// ValidIdempotencyKey returns "" or what is wrong with k.
func ValidIdempotencyKey(k string) string {
	if k == "" || len(k) > MaxIdempotencyKeyLen {
		return fmt.Sprintf("must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return "may hold only A-Z, a-z, 0-9 and - _ . :"
		}
	}
	return ""
}

// fingerprint is the SHA-256 of the normalised request: "RU" and "rus", "+7…" and "7…",
// or another order of the keys are the same request.
func (r *PaymentRequest) fingerprint() string {
	b, _ := json.Marshal(struct {
		V int
		R PaymentRequest
	}{1, *r})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// keyRecord is what the bucket holds for a key.
type keyRecord struct {
	InvoiceID   string `json:"invoiceId"`
	Fingerprint string `json:"fingerprint"`
}

// keyStore remembers keyRecords by Idempotency-Key.
type keyStore interface {
	get(ctx context.Context, key string) (keyRecord, bool, error)
	// create records rec unless key has a record; then it returns that one, taken true.
	create(ctx context.Context, key string, rec keyRecord) (existing keyRecord, taken bool, err error)
	// release forgets key's record if it is still rec.
	release(ctx context.Context, key string, rec keyRecord) error
}

// kvKeys is the keyStore on IdempotencyBucket. A record lives for EPAY_INBOX's duplicate
// window (the bucket's TTL).
type kvKeys struct {
	js jetstream.JetStream
	mu sync.Mutex
	kv jetstream.KeyValue
}

func (k *kvKeys) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kv != nil {
		return k.kv, nil
	}
	// Bind only: the worker makes the bucket. The initiator may not create or change a
	// stream: with that it could give one a RePublish into payments.> (review 2, F1).
	kv, err := natsbus.BindBucket(ctx, k.js, IdempotencyBucket)
	if err != nil {
		return nil, err
	}
	k.kv = kv
	return kv, nil
}

// kvKey is the bucket's key of an Idempotency-Key (a key may hold ':', a bucket key not).
func kvKey(key string) string {
	sum := sha256.Sum256([]byte("epayflow-idempotency:" + key))
	return hex.EncodeToString(sum[:])
}

func (k *kvKeys) get(ctx context.Context, key string) (keyRecord, bool, error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return keyRecord{}, false, err
	}
	e, err := kv.Get(ctx, kvKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return keyRecord{}, false, nil
	}
	if err != nil {
		return keyRecord{}, false, err
	}
	var rec keyRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil || epay.ValidateInvoiceID(rec.InvoiceID) != nil {
		return keyRecord{}, false, fmt.Errorf("bucket %s: a malformed record", IdempotencyBucket)
	}
	return rec, true, nil
}

func (k *kvKeys) create(ctx context.Context, key string, rec keyRecord) (keyRecord, bool, error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return keyRecord{}, false, err
	}
	b, _ := json.Marshal(rec)
	_, err = kv.Create(ctx, kvKey(key), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		existing, found, gerr := k.get(ctx, key)
		if gerr != nil || !found { // it expired in between: an error, the merchant retries
			return keyRecord{}, false, errors.Join(err, gerr)
		}
		return existing, true, nil
	}
	return keyRecord{}, false, err
}

func (k *kvKeys) release(ctx context.Context, key string, rec keyRecord) error {
	kv, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	e, err := kv.Get(ctx, kvKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var got keyRecord
	if json.Unmarshal(e.Value(), &got) != nil || got != rec {
		return nil // another record: not this request's to forget
	}
	return kv.Delete(ctx, kvKey(key), jetstream.LastRevision(e.Revision()))
}

// createKeyed is CreateOnce with a key. The bucket first: a retry costs no invoiceId
// and one token request. A new payment records its invoice under the key (Create:
// never over another record) after the token and before invoice.created; of two
// requests racing with one key, the second finds the first's record there and answers
// from it. A failure to read or write the bucket is ErrBus with nothing published.
func (s *Service) createKeyed(ctx context.Context, r *PaymentRequest, key string) (*Created, bool, error) {
	if s.Keys == nil {
		return nil, false, fmt.Errorf("%w: no Idempotency-Key store", ErrBus)
	}
	gctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
	rec, found, err := s.Keys.get(gctx, key)
	cancel()
	if err != nil {
		return nil, false, fmt.Errorf("%w: Idempotency-Key: %w", ErrBus, err)
	}
	if found {
		c, err := s.replay(ctx, r, rec)
		return c, err == nil, err
	}
	replayed := false
	var mine *keyRecord
	c, err := s.create(ctx, r, func(id string) (*Created, error) {
		cctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
		defer cancel()
		rec := keyRecord{InvoiceID: id, Fingerprint: r.fingerprint()}
		existing, taken, err := s.Keys.create(cctx, key, rec)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: Idempotency-Key: %w", ErrBus, err)
		case taken:
			replayed = true
			return s.replay(ctx, r, existing)
		}
		mine = &rec
		return nil, nil
	})
	if errors.Is(err, ErrInvoiceIDTaken) && mine != nil {
		// The key must not keep pointing at an invoice that is not this request's: a
		// retry with it would replay that id (a duplicate a replay takes as its own) and
		// hand it out. Forgotten, the retry makes a new payment.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.PublishTimeout)
		if rerr := s.Keys.release(rctx, key, *mine); rerr != nil {
			err = fmt.Errorf("%w (and its Idempotency-Key could not be released: %v)", err, rerr)
		}
		cancel()
	}
	return c, replayed && err == nil, err
}

// replay answers a request whose Idempotency-Key made rec: if it is the same request,
// the same invoice with a fresh token, after publishing its invoice.created again (a
// duplicate JetStream drops if the first attempt's arrived; the invoice itself if it
// never did); else ErrIdempotencyConflict.
func (s *Service) replay(ctx context.Context, r *PaymentRequest, rec keyRecord) (*Created, error) {
	if rec.Fingerprint != r.fingerprint() {
		return nil, fmt.Errorf("%w (invoice %s)", ErrIdempotencyConflict, rec.InvoiceID)
	}
	obj, err := s.tokenFor(ctx, rec.InvoiceID, r)
	if err != nil {
		return nil, err
	}
	if err := s.publish(ctx, r, rec.InvoiceID, false); err != nil {
		return nil, err
	}
	return s.created(rec.InvoiceID, obj, r), nil
}
