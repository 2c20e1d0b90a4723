package initiator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

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
	// Pending: the request that made the record has not yet had the PubAck of its
	// invoice.created. Another request with the key waits for it (awaitSettled): a
	// replay published before it would make the first request's own publish a
	// duplicate, which a fresh invoiceId takes as ErrInvoiceIDTaken. A record without
	// the field (made before it existed) is settled.
	Pending bool `json:"pending,omitempty"`
	// Terminal is the invoice's terminal (Service.terminalFor): a replay on a replica
	// configured otherwise (a rollout of EPAY_P2P_TERMINAL) names it still. A record
	// without it (made before it existed) takes the replica's.
	Terminal string `json:"terminal,omitempty"`
	// Sig is the initiator's keyring's token over the record and its key (recordSig):
	// the initiator's NATS password alone, which may write the bucket, cannot point a
	// merchant's retry at another invoice or terminal.
	Sig string `json:"sig,omitempty"`
	// rev is the record's revision in the bucket, as get read it.
	rev uint64
}

// keyStore remembers keyRecords by Idempotency-Key.
type keyStore interface {
	get(ctx context.Context, key string) (keyRecord, bool, error)
	// create records rec unless key has a record; then it returns that one, taken true
	// (a zero record if it went in between). rev is the new record's revision.
	create(ctx context.Context, key string, rec keyRecord) (existing keyRecord, rev uint64, taken bool, err error)
	// settle rewrites the record made at rev as rec (not Pending) if it is still that one.
	settle(ctx context.Context, key string, rec keyRecord, rev uint64) error
	// release forgets the record made at rev if it is still that one.
	release(ctx context.Context, key string, rev uint64) error
}

// kvKeys is the keyStore on IdempotencyBucket. A record lives for EPAY_INBOX's duplicate
// window (the bucket's TTL). Every record it writes is signed with keyring, and a record
// read that is not (written by whoever else holds the initiator's NATS password, or by
// a release before signatures) is ErrForgedRecord.
type kvKeys struct {
	js      jetstream.JetStream
	keyring *epay.Keyring
	mu      sync.Mutex
	kv      jetstream.KeyValue
}

// ErrForgedRecord: an Idempotency-Key's record in the bucket is not signed with the
// initiator's keys. It is never replayed: its invoiceId or terminal may be anybody's.
var ErrForgedRecord = errors.New("the Idempotency-Key's record is not signed with the initiator's keys (EPAY_SECRET_KEYS)")

// idempotencyPurpose is the Keyring.Token purpose of a record's signature.
const idempotencyPurpose = "epayflow-idempotency-v1"

// recordDigest is what a record's signature covers: the key it is stored under and
// every field a replay uses.
func recordDigest(key string, rec keyRecord) string {
	b, _ := json.Marshal(struct {
		K, I, F, T string
		P          bool
	}{kvKey(key), rec.InvoiceID, rec.Fingerprint, rec.Terminal, rec.Pending})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// marshal is rec signed for key, as the bucket stores it.
func (k *kvKeys) marshal(key string, rec keyRecord) []byte {
	rec.Sig = k.keyring.Token(idempotencyPurpose, recordDigest(key, rec))
	b, _ := json.Marshal(rec)
	return b
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
	if k.keyring.VerifyToken(idempotencyPurpose, recordDigest(key, rec), rec.Sig) != nil {
		return keyRecord{}, false, fmt.Errorf("%w: bucket %s, invoice %s", ErrForgedRecord, IdempotencyBucket, rec.InvoiceID)
	}
	rec.rev = e.Revision()
	return rec, true, nil
}

func (k *kvKeys) create(ctx context.Context, key string, rec keyRecord) (keyRecord, uint64, bool, error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return keyRecord{}, 0, false, err
	}
	rev, err := kv.Create(ctx, kvKey(key), k.marshal(key, rec))
	if errors.Is(err, jetstream.ErrKeyExists) {
		existing, found, gerr := k.get(ctx, key)
		if gerr != nil {
			return keyRecord{}, 0, false, errors.Join(err, gerr)
		}
		if !found { // it expired or was released in between: taken by nobody now
			return keyRecord{}, 0, true, nil
		}
		return existing, 0, true, nil
	}
	return keyRecord{}, rev, false, err
}

func (k *kvKeys) settle(ctx context.Context, key string, rec keyRecord, rev uint64) error {
	kv, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	rec.Pending = false
	_, err = kv.Update(ctx, kvKey(key), k.marshal(key, rec), rev)
	return err
}

func (k *kvKeys) release(ctx context.Context, key string, rev uint64) error {
	kv, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	err = kv.Delete(ctx, kvKey(key), jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// maxClaims bounds how often one request tries to record its invoice under a key whose
// record keeps being released (each release is an invoiceId found taken on the bus).
const maxClaims = 3

// createKeyed is CreateOnce with a key. The bucket first: a retry costs no invoiceId
// and one token request. A new payment records its invoice under the key, Pending
// (Create: never over another record), after the token and before invoice.created,
// and settles the record once the publish is answered. Of two requests racing with one
// key, the second finds the first's record and answers from it once it is settled; if
// the first's invoiceId was taken, its record is released and the second makes its
// own payment. A failure to read or write the bucket is ErrBus with nothing published.
func (s *Service) createKeyed(ctx context.Context, r *PaymentRequest, key string) (*Created, bool, error) {
	if s.Keys == nil {
		return nil, false, fmt.Errorf("%w: no Idempotency-Key store", ErrBus)
	}
	gctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
	rec, found, err := s.Keys.get(gctx, key)
	cancel()
	if err == nil && found {
		rec, found, err = s.awaitSettled(ctx, key, rec)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: Idempotency-Key: %w", ErrBus, err)
	}
	if found {
		c, err := s.replay(ctx, r, rec)
		s.settleOrphan(ctx, key, rec, err)
		return c, err == nil, err
	}
	replayed := false
	var (
		mine    keyRecord // this request's record, made at revision mineRev
		mineRev uint64
	)
	c, err := s.create(ctx, r, func(id string) (*Created, error) {
		rec := keyRecord{InvoiceID: id, Fingerprint: r.fingerprint(), Pending: true, Terminal: s.terminalFor(r)}
		for range maxClaims {
			cctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
			existing, rev, taken, err := s.Keys.create(cctx, key, rec)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%w: Idempotency-Key: %w", ErrBus, err)
			}
			if !taken {
				mine, mineRev = rec, rev
				return nil, nil
			}
			if existing.InvoiceID == "" { // gone in between: try again
				continue
			}
			existing, found, err := s.awaitSettled(ctx, key, existing)
			if err != nil {
				return nil, fmt.Errorf("%w: Idempotency-Key: %w", ErrBus, err)
			}
			if found {
				replayed = true
				c, err := s.replay(ctx, r, existing)
				s.settleOrphan(ctx, key, existing, err)
				return c, err
			}
		}
		return nil, fmt.Errorf("%w: Idempotency-Key: its record was released %d times; retry", ErrBus, maxClaims)
	})
	if mineRev != 0 {
		// Not the request's context: the record must not stay Pending because the
		// merchant hung up.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.PublishTimeout)
		if errors.Is(err, ErrInvoiceIDTaken) {
			// The key must not keep pointing at an invoice that is not this request's: a
			// retry with it would replay that id (a duplicate a replay takes as its own)
			// and hand it out. Forgotten, the retry makes a new payment.
			if rerr := s.Keys.release(sctx, key, mineRev); rerr != nil {
				err = fmt.Errorf("%w (and its Idempotency-Key could not be released: %v)", err, rerr)
			}
		} else {
			// Stored, or not known to be (ErrBus): either way a retry now replays it. If
			// the record stays Pending, retries wait settleWait for it, then replay.
			_ = s.Keys.settle(sctx, key, mine, mineRev)
		}
		cancel()
	}
	return c, replayed && err == nil, err
}

// settleWait is how long a request waits for another's Pending record to settle before
// it replays the record anyway: the other request took at most PublishTimeout for its
// publish and as much to settle, so after twice that (and a margin) it has ended or
// died, and a replay can no longer come before its publish.
func (s *Service) settleWait() time.Duration { return 2*s.PublishTimeout + 250*time.Millisecond }

// awaitSettled waits while key's record rec is Pending (another request with the key is
// publishing its invoice.created), polling the bucket, at most settleWait. It returns
// the record once it is settled, or still Pending at the end of the wait; found false if
// it was released (that request's invoiceId was taken: this one makes its own).
func (s *Service) awaitSettled(ctx context.Context, key string, rec keyRecord) (keyRecord, bool, error) {
	deadline := time.Now().Add(s.settleWait())
	for pause := 2 * time.Millisecond; rec.Pending; pause = min(2*pause, 50*time.Millisecond) {
		left := time.Until(deadline)
		if left <= 0 {
			return rec, true, nil
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return keyRecord{}, false, ctx.Err()
		case <-t.C:
		}
		gctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
		got, found, err := s.Keys.get(gctx, key)
		cancel()
		if err != nil || !found {
			return keyRecord{}, false, err
		}
		rec = got
	}
	return rec, true, nil
}

// settleOrphan settles rec, a record still Pending after awaitSettled (its request
// died before it settled it), once its replay published the invoice (err nil), so that
// later retries with the key do not wait for it again.
func (s *Service) settleOrphan(ctx context.Context, key string, rec keyRecord, err error) {
	if !rec.Pending || err != nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.PublishTimeout)
	defer cancel()
	_ = s.Keys.settle(sctx, key, rec, rec.rev) // if it fails, the next retry waits and settles
}

// replay answers a request whose Idempotency-Key made rec: if it is the same request,
// the same invoice with a fresh token, after publishing its invoice.created again (a
// duplicate JetStream drops if the first attempt's arrived; the invoice itself if it
// never did); else ErrIdempotencyConflict.
func (s *Service) replay(ctx context.Context, r *PaymentRequest, rec keyRecord) (*Created, error) {
	if rec.Fingerprint != r.fingerprint() {
		return nil, fmt.Errorf("%w (invoice %s)", ErrIdempotencyConflict, rec.InvoiceID)
	}
	r.terminal = rec.Terminal
	obj, err := s.tokenFor(ctx, rec.InvoiceID, r)
	if err != nil {
		return nil, err
	}
	if err := s.publish(ctx, r, rec.InvoiceID, false); err != nil {
		return nil, err
	}
	return s.created(rec.InvoiceID, obj, r), nil
}
