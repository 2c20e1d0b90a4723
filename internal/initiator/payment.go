package initiator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrBus wraps a failure to publish invoice.created (NATS down, no PubAck in time).
var ErrBus = errors.New("invoice could not be recorded")

// ErrAllocate wraps a failure to allocate an invoiceId.
var ErrAllocate = errors.New("invoiceId could not be allocated")

// ErrToken wraps a failure to get the ePay token; the epayapi error is wrapped too.
var ErrToken = errors.New("ePay token request failed")

// PaymentObject is what the page passes to halyk.pay / halyk.p2p: exactly the fields
// and types of the source document, in its order, with name added (FACTS.md). Amount
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
		Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
	}
)

// Service creates payments.
type Service struct {
	IDs            idSource
	Tokens         tokenSource
	Bus            publisher
	Keyring        *epay.Keyring
	Terminal       string
	Shards         int
	PublicBaseURL  string // where ePay reaches the ingest
	PublicURL      string // where browsers reach the initiator
	PayformJSURL   string
	PublishTimeout time.Duration
	Now            func() time.Time
}

// Create allocates the invoiceId, derives secret_hash, gets the token for the kind,
// publishes invoice.created and waits for its PubAck, then returns the payment object.
// Nothing is published when the token cannot be had. Errors wrap ErrAllocate, ErrToken
// (with the epayapi error) or ErrBus.
func (s *Service) Create(ctx context.Context, r *PaymentRequest) (*Created, error) {
	id, err := s.IDs.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAllocate, err)
	}
	secretHash := s.Keyring.Sign(s.Terminal, id)
	obj := s.paymentObject(id, r)
	tok, err := s.token(ctx, r.Kind, epayapi.TokenRequest{
		InvoiceID: id, SecretHash: secretHash, Amount: r.Amount, Currency: r.Currency,
		PostLink: obj.PostLink, FailurePostLink: obj.FailurePostLink,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrToken, err)
	}
	obj.Auth = tok
	if err := s.publish(ctx, r, id); err != nil {
		return nil, err
	}
	return &Created{InvoiceID: id, PaymentObject: obj, PayformJSURL: s.PayformJSURL, Kind: r.Kind}, nil
}

// token asks for scope=payment with the invoice fields, or for scope=transfer with
// secret_hash only, as the P2P redirect form of the source document does.
func (s *Service) token(ctx context.Context, kind string, r epayapi.TokenRequest) (epayapi.Token, error) {
	if kind == KindP2P {
		return s.Tokens.TransferToken(ctx, epayapi.TokenRequest{SecretHash: r.SecretHash})
	}
	return s.Tokens.PaymentToken(ctx, r)
}

func (s *Service) publish(ctx context.Context, r *PaymentRequest, id string) error {
	msg, err := json.Marshal(invoice.Created{
		InvoiceID: id, Kind: r.Kind, Amount: r.Amount, Currency: r.Currency, Terminal: s.Terminal,
		Description: r.Description, AccountID: r.AccountID, CreatedAt: s.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("%w: encode: %w", ErrBus, err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
	defer cancel()
	subject := natsbus.InboxSubject(natsbus.Shard(id, s.Shards), natsbus.KindInvoice)
	if _, err := s.Bus.Publish(pctx, subject, msg, jetstream.WithMsgID(natsbus.InvoiceMsgID(id))); err != nil {
		return fmt.Errorf("%w: publish to %s: %w", ErrBus, subject, err)
	}
	return nil
}

func (s *Service) paymentObject(id string, r *PaymentRequest) PaymentObject {
	back, failBack := r.BackLink, r.FailureBackLink
	q := "?invoiceId=" + url.QueryEscape(id)
	if back == "" {
		back = s.PublicURL + "/return/success" + q
	}
	if failBack == "" {
		failBack = s.PublicURL + "/return/failure" + q
	}
	return PaymentObject{
		InvoiceID: id, BackLink: back, FailureBackLink: failBack,
		PostLink: s.PublicBaseURL + "/epay/postlink", FailurePostLink: s.PublicBaseURL + "/epay/failure-postlink",
		Language: r.Language, Description: r.Description, AccountID: r.AccountID, Terminal: s.Terminal,
		Amount: r.Amount, Currency: r.Currency, Phone: r.Phone, Email: r.Email, Name: r.Name, CardSave: r.CardSave,
	}
}
