package initiator

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// ErrBus wraps a failure to publish invoice.created (NATS down, no PubAck in time).
var ErrBus = errors.New("invoice could not be recorded")

// ErrInvoiceIDTaken: EPAY_INBOX already held the invoice.created of an invoiceId just
// allocated (JetStream answered the publish as a duplicate), so the invoice is not this
// request's: the payment is not handed out. Only a holder of EPAY_SECRET_KEYS can make
// that message's Nats-Msg-Id (inbox.CreatedNatsMsgID), so it means an id used twice (an
// allocator set back) or a leaked key, never a mere NATS password.
var ErrInvoiceIDTaken = errors.New("the new invoiceId is already taken on the message bus")

// ErrAllocate wraps a failure to allocate an invoiceId.
var ErrAllocate = errors.New("invoiceId could not be allocated")

// ErrToken wraps a failure to get the ePay token; the epayapi error is wrapped too.
var ErrToken = errors.New("ePay token request failed")

// PaymentObject is what the page passes to halyk.pay / halyk.p2p: exactly the fields
// and types of the source document, in its order, with name added (docs/EPAY.md). Amount
// is a JSON number, CardSave a JSON boolean, Auth the token answer as ePay sent it.
type PaymentObject struct {
	InvoiceID       string        `json:"invoiceId"`
	BackLink        string        `json:"backLink"`
	FailureBackLink string        `json:"failureBackLink"`
	PostLink        string        `json:"postLink"`
	FailurePostLink string        `json:"failurePostLink"`
	Language        string        `json:"language"`
	Description     string        `json:"description"`
	AccountID       string        `json:"accountId"`
	Terminal        string        `json:"terminal"`
	Amount          epay.Amount   `json:"amount"`
	Currency        string        `json:"currency"`
	Phone           string        `json:"phone"`
	Email           string        `json:"email"`
	Name            string        `json:"name"`
	CardSave        bool          `json:"cardSave"`
	Auth            epayapi.Token `json:"auth"`
}

// Created is the answer of POST /v1/payments.
type Created struct {
	InvoiceID     string        `json:"invoiceId"`
	PaymentObject PaymentObject `json:"paymentObject"`
	PayformJSURL  string        `json:"payformJsUrl"`
	// OrderID and Metadata are the request's, as kept on the invoice (a replay of an
	// Idempotency-Key answers the same, since only the same request replays).
	OrderID  string            `json:"orderId,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Kind is not sent: the page knows which button it pressed.
	Kind string `json:"-"`
}

// The collaborators of a Service, as it uses them.
type (
	idSource interface {
		Next(ctx context.Context) (string, error)
	}
	tokenSource interface {
		PaymentToken(ctx context.Context, r epayapi.TokenRequest) (epayapi.Token, error)
		TransferToken(ctx context.Context, r epayapi.TokenRequest) (epayapi.Token, error)
	}
	publisher interface {
		PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
	}
)

// Service creates payments.
type Service struct {
	IDs            idSource
	Tokens         tokenSource
	Bus            publisher
	Keys           keyStore // which invoice each Idempotency-Key made (IdempotencyBucket)
	Keyring        *epay.Keyring
	Terminal       string
	P2PTerminal    string         // the terminal of P2P transfers; "" is Terminal
	Msgs           *inbox.Builder // makes invoice.created for the deployment's shard count
	PublicBaseURL  string         // where ePay reaches the ingest
	PublicURL      string         // where browsers reach the initiator
	PayformJSURL   string
	PublishTimeout time.Duration
	Now            func() time.Time
	// ReturnKeys sign the return page's token (INITIATOR_RETURN_KEYS); nil: Keyring.
	ReturnKeys *epay.Keyring
	// BackLinkHosts may receive the buyer (INITIATOR_BACKLINK_HOSTS); empty: the host of
	// PublicURL only. HTTPSLinks refuses plain-http backLinks (EPAY_ENV=prod).
	BackLinkHosts []string
	HTTPSLinks    bool
}

// Create allocates the invoiceId, derives secret_hash, gets the token for the kind,
// publishes invoice.created and waits for its PubAck, then returns the payment object.
// Nothing is published when the token cannot be had. Errors wrap ErrAllocate, ErrToken
// (with the epayapi error) or ErrBus.
func (s *Service) Create(ctx context.Context, r *PaymentRequest) (*Created, error) {
	c, _, err := s.CreateOnce(ctx, r, "")
	return c, err
}

// CreateOnce is Create with an Idempotency-Key (validated by ValidIdempotencyKey; ""
// for none). The first request with a key records its invoice under the key in
// IdempotencyBucket, for EPAY_INBOX's duplicate window, before publishing it; a later
// request with the key, on any replica, gets that invoice again if it is the same
// request (replayed true, with a fresh token, its invoice.created published again in
// case the first attempt's never arrived: JetStream drops it as a duplicate if it did),
// or ErrIdempotencyConflict.
func (s *Service) CreateOnce(ctx context.Context, r *PaymentRequest, key string) (c *Created, replayed bool, err error) {
	if key != "" {
		return s.createKeyed(ctx, r, key)
	}
	c, err = s.create(ctx, r, nil)
	return c, false, err
}

// create makes a new payment. claim, if set, is called with the invoiceId once the
// token is had and before invoice.created is published; an error from it stops the
// payment (nothing published), and a non-nil Created from it is the answer instead.
func (s *Service) create(ctx context.Context, r *PaymentRequest, claim func(id string) (*Created, error)) (*Created, error) {
	id, err := s.IDs.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAllocate, err)
	}
	obj, err := s.tokenFor(ctx, id, r)
	if err != nil {
		return nil, err
	}
	if claim != nil {
		if c, err := claim(id); c != nil || err != nil {
			return c, err
		}
	}
	if err := s.publish(ctx, r, id, true); err != nil {
		return nil, err
	}
	return s.created(id, obj, r), nil
}

// created is the answer for invoice id.
func (s *Service) created(id string, obj PaymentObject, r *PaymentRequest) *Created {
	return &Created{InvoiceID: id, PaymentObject: obj, PayformJSURL: s.PayformJSURL, Kind: r.Kind,
		OrderID: r.OrderID, Metadata: r.Metadata}
}

// tokenFor builds the payment object of invoice id and gets its ePay token.
func (s *Service) tokenFor(ctx context.Context, id string, r *PaymentRequest) (PaymentObject, error) {
	terminal := s.terminalFor(r)
	secretHash := s.Keyring.Sign(terminal, id)
	obj := s.paymentObject(id, r)
	tok, err := s.token(ctx, r.Kind, epayapi.TokenRequest{
		InvoiceID: id, SecretHash: secretHash, Amount: r.Amount, Currency: r.Currency,
		PostLink: obj.PostLink, FailurePostLink: obj.FailurePostLink, Terminal: terminal,
	})
	if err != nil {
		return PaymentObject{}, fmt.Errorf("%w: %w", ErrToken, err)
	}
	obj.Auth = tok
	return obj, nil
}

// terminalFor is the terminal of r's invoice: the one its Idempotency-Key's record
// names (a replay), else the P2P terminal for a transfer (EPAY_P2P_TERMINAL, when set),
// else EPAY_TERMINAL. The token, the payment object, the secret_hash and the invoice
// all name it: ePay's callback carries it, and the worker checks it against the
// invoice's.
func (s *Service) terminalFor(r *PaymentRequest) string {
	switch {
	case r.terminal != "":
		return r.terminal
	case r.Kind == KindP2P && s.P2PTerminal != "":
		return s.P2PTerminal
	}
	return s.Terminal
}

// token asks for scope=payment with the invoice fields, or for scope=transfer with
// secret_hash only, as the P2P redirect form of the source document does.
func (s *Service) token(ctx context.Context, kind string, r epayapi.TokenRequest) (epayapi.Token, error) {
	if kind == KindP2P {
		return s.Tokens.TransferToken(ctx, epayapi.TokenRequest{SecretHash: r.SecretHash, Terminal: r.Terminal})
	}
	return s.Tokens.PaymentToken(ctx, r)
}

// publish publishes invoice id's invoice.created, signed with the keyring, and waits
// for its PubAck. fresh says the id was allocated for this request: then a duplicate
// (the stream held the message id already) is ErrInvoiceIDTaken, as the message there
// is not this one. A replay's duplicate is its own first attempt's message.
func (s *Service) publish(ctx context.Context, r *PaymentRequest, id string, fresh bool) error {
	now := s.Now().UTC()
	msg, err := s.Msgs.Created(invoice.Created{
		InvoiceID: id, Kind: r.Kind, Amount: r.Amount, Currency: r.Currency, Terminal: s.terminalFor(r),
		Description: r.Description, AccountID: r.AccountID, OrderID: r.OrderID, Metadata: r.Metadata, CreatedAt: now,
	}, s.Keyring, now)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBus, err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
	defer cancel()
	ack, err := s.Bus.PublishMsg(pctx, msg, jetstream.WithExpectStream(inbox.Stream))
	switch {
	case err != nil:
		return fmt.Errorf("%w: publish to %s: %w", ErrBus, msg.Subject, err)
	case fresh && ack.Duplicate:
		return fmt.Errorf("%w: invoice %s (stream sequence %d)", ErrInvoiceIDTaken, id, ack.Sequence)
	}
	return nil
}

func (s *Service) paymentObject(id string, r *PaymentRequest) PaymentObject {
	back, failBack := r.BackLink, r.FailureBackLink
	q := "?invoiceId=" + url.QueryEscape(id) + "&token=" + url.QueryEscape(s.ReturnToken(id))
	if back == "" {
		back = s.PublicURL + "/return/success" + q
	}
	if failBack == "" {
		failBack = s.PublicURL + "/return/failure" + q
	}
	return PaymentObject{
		InvoiceID: id, BackLink: back, FailureBackLink: failBack,
		PostLink: s.PublicBaseURL + "/epay/postlink", FailurePostLink: s.PublicBaseURL + "/epay/failure-postlink",
		Language: r.Language, Description: r.Description, AccountID: r.AccountID, Terminal: s.terminalFor(r),
		Amount: r.Amount, Currency: r.Currency, Phone: r.Phone, Email: r.Email, Name: r.Name, CardSave: r.CardSave,
	}
}

// returnTokenDomain is the purpose the return page's token is made for (Keyring.Token):
// an HMAC over an input no secret_hash has, so the token a buyer sees in the back link is
// never a valid secret_hash of any terminal. (It was once Sign("epayflow-return-page",
// id): a callback naming that terminal passed with the token as its secret_hash.)
const returnTokenDomain = "epayflow-return-page"

func (s *Service) returnKeys() *epay.Keyring {
	if s.ReturnKeys != nil {
		return s.ReturnKeys
	}
	return s.Keyring
}

// ReturnToken is the unguessable token of invoice id's return page: a key id and 24
// base32 characters of HMAC-SHA256 (120 bits), derived, never stored.
func (s *Service) ReturnToken(id string) string { return s.returnKeys().Token(returnTokenDomain, id) }

// validReturnToken checks tok in constant time against every return key.
func (s *Service) validReturnToken(id, tok string) bool {
	return tok != "" && s.returnKeys().VerifyToken(returnTokenDomain, id, tok) == nil
}

// linkPolicy is BackLinkHosts (or PublicURL's host) and HTTPSLinks.
func (s *Service) linkPolicy() (linkPolicy, error) {
	entries := s.BackLinkHosts
	if len(entries) == 0 {
		u, err := url.Parse(s.PublicURL)
		if err != nil || u.Host == "" {
			return linkPolicy{httpsOnly: s.HTTPSLinks}, nil // nothing allowed
		}
		entries = []string{u.Host}
	}
	hosts, err := parseHostPatterns(entries)
	return linkPolicy{hosts: hosts, httpsOnly: s.HTTPSLinks}, err
}

// CheckLinks reports a backLink or failureBackLink the policy refuses, by field.
func (s *Service) CheckLinks(r *PaymentRequest) FieldErrors {
	errs := FieldErrors{}
	lp, err := s.linkPolicy()
	if err != nil {
		errs["backLink"] = err.Error()
		return errs
	}
	for field, link := range map[string]string{"backLink": r.BackLink, "failureBackLink": r.FailureBackLink} {
		if link == "" {
			continue
		}
		if msg := lp.check(link); msg != "" {
			errs[field] = msg
		}
	}
	return errs
}
