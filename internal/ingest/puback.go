package ingest

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// expectInbox is the Nats-Expected-Stream value of every callback: EPAY_INBOX must take
// it, or JetStream refuses it (an API error), whatever stream a subject was moved to.
var expectInbox = []string{inbox.Stream}

// syncPublish is jetstream's PublishMsg with WithExpectStream(inbox.Stream), through
// natsbus.PublishSync (the PubAck read in place), the header added to msg's map as it
// is, not canonicalised.
func syncPublish(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*jetstream.PubAck, error) {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header[jetstream.ExpectedStreamHeader] = expectInbox
	return natsbus.PublishSync(ctx, nc, msg)
}
