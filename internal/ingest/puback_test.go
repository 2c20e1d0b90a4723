package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// TestSyncPublishAnswersAsJetStreamDoes publishes the same messages through the
// ingest's own sync publish and through jetstream's PublishMsg with
// WithExpectStream(EPAY_INBOX), on a real server, and wants the same answer from both:
// a stored message, a duplicate, a subject another stream holds (an API error) and a
// subject no stream holds (no responders, after the same retries).
func TestSyncPublishAnswersAsJetStreamDoes(t *testing.T) {
	js := natstest.JetStream(t, natstest.Start(t).URL())
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	msg := func(subject, id string) *nats.Msg {
		return &nats.Msg{Subject: subject, Data: []byte(`{"id":"` + id + `"}`), Header: nats.Header{nats.MsgIdHdr: {id}}}
	}
	inboxSubject := inbox.Subject(3, inbox.KindPostlink)
	for _, tc := range []struct {
		name, subject, id string
		wantErr           error // nil: an ack
		wantDup           bool
	}{
		{name: "stored", subject: inboxSubject, id: "a"},
		{name: "duplicate", subject: inboxSubject, id: "a", wantDup: true},
		{name: "another stream's subject", subject: "other.x", id: "b", wantErr: &jetstream.APIError{ErrorCode: 10060}},
		{name: "no stream", subject: "nowhere.x", id: "c", wantErr: jetstream.ErrNoStreamResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			theirs, theirErr := js.PublishMsg(ctx, msg(tc.subject, tc.id), jetstream.WithExpectStream(inbox.Stream))
			ours, ourErr := syncPublish(ctx, nc, msg(tc.subject, tc.id))
			if tc.wantErr != nil {
				if !errors.Is(ourErr, tc.wantErr) || !errors.Is(theirErr, tc.wantErr) {
					t.Fatalf("errors: ours %v, jetstream's %v; want both %v", ourErr, theirErr, tc.wantErr)
				}
				if ourErr.Error() != theirErr.Error() || classify(ourErr) != classify(theirErr) {
					t.Fatalf("ours %q (%v), jetstream's %q (%v)", ourErr, classify(ourErr), theirErr, classify(theirErr))
				}
				return
			}
			if ourErr != nil || theirErr != nil {
				t.Fatalf("errors: ours %v, jetstream's %v", ourErr, theirErr)
			}
			if ours.Stream != inbox.Stream || !ours.Duplicate || ours.Sequence != theirs.Sequence {
				// the second publish of either is a duplicate of the first
				t.Fatalf("ours %+v, jetstream's %+v", ours, theirs)
			}
			if theirs.Duplicate != tc.wantDup {
				t.Fatalf("jetstream's ack %+v, want duplicate %v", theirs, tc.wantDup)
			}
		})
	}
	stored, err := js.Stream(ctx, inbox.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stored.GetLastMsgForSubject(ctx, inboxSubject)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(jetstream.ExpectedStreamHeader); got != inbox.Stream {
		t.Fatalf("stored message's %s = %q, want %q", jetstream.ExpectedStreamHeader, got, inbox.Stream)
	}
}
