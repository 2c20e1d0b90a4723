package jspubsub

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher is a Watermill message.Publisher on JetStream. Publish returns once the
// stream stored each message (its PubAck), so a message it returned nil for is durable.
type Publisher struct {
	js     jetstream.JetStream
	cfg    PublisherConfig
	mu     sync.RWMutex
	closed bool
}

// NewPublisher returns a Publisher on js. It does not own js's connection: Close leaves
// it open.
func NewPublisher(js jetstream.JetStream, cfg PublisherConfig) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Publisher{js: js, cfg: cfg}, nil
}

// Publish publishes msgs in order on the subject of topic, each with its metadata as
// headers (except the Subscriber's own, MetadataPrefix), its UUID in
// HeaderUUID and a Nats-Msg-Id of its subject and UUID: the stream
// drops a message published again to the same subject within its duplicate window, but
// not the same message published to two topics. It waits for each PubAck (bounded by
// PublisherConfig.Timeout and the message's context) and stops at the first error. It
// returns ErrClosed after Close, the Subject func's error for a topic it refuses, an
// error for metadata a NATS header cannot carry, and NATS's errors.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	subject, err := p.cfg.Subject(topic)
	if err != nil {
		return fmt.Errorf("jspubsub: topic %q: %w", topic, err)
	}
	for _, msg := range msgs {
		nm, err := toNATS(subject, msg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(msg.Context(), p.cfg.Timeout)
		_, err = p.js.PublishMsg(ctx, nm)
		cancel()
		if err != nil {
			return fmt.Errorf("jspubsub: publish %s to %s: %w", msg.UUID, subject, err)
		}
	}
	return nil
}

// toNATS is the NATS message of msg on subject.
func toNATS(subject string, msg *message.Message) (*nats.Msg, error) {
	if msg.UUID == "" || strings.ContainsAny(msg.UUID, "\r\n") {
		return nil, fmt.Errorf("jspubsub: message UUID %q cannot be a NATS header", msg.UUID)
	}
	h := make(nats.Header, len(msg.Metadata)+2)
	for k, v := range msg.Metadata {
		if strings.HasPrefix(k, MetadataPrefix) {
			continue
		}
		if !validHeader(k, v) {
			return nil, fmt.Errorf("jspubsub: message %s: metadata %q cannot be a NATS header (empty name, or a control character, colon or space in its name, or a line break in its value)", msg.UUID, k)
		}
		h[k] = []string{v}
	}
	h[HeaderUUID] = []string{msg.UUID}
	h[nats.MsgIdHdr] = []string{subject + " " + msg.UUID} // a subject has no spaces
	return &nats.Msg{Subject: subject, Header: h, Data: msg.Payload}, nil
}

// validHeader reports whether a header of name k and value v survives the NATS protocol:
// a name of printable characters without colons and spaces, a value on one line.
func validHeader(k, v string) bool {
	if k == "" || strings.ContainsAny(v, "\r\n") {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c == ':' || c == 0x7f {
			return false
		}
	}
	return true
}

// Close makes Publish return ErrClosed; a Publish under way ends first. It is safe to
// call more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}
