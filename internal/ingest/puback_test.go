package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
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
	ns := natstest.Start(t)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox); err != nil {
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

// pubAckAnswer is jetstream's own reading of a PubAck (its pubAckResponse), the
// reference readPubAck is held against.
type pubAckAnswer struct {
	Type  string              `json:"type"`
	Error *jetstream.APIError `json:"error,omitempty"`
	*jetstream.PubAck
}

// referencePubAck reads data as jetstream's publishMsg does.
func referencePubAck(data []byte) (*jetstream.PubAck, error) {
	var a pubAckAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, jetstream.ErrInvalidJSAck
	}
	if a.Error != nil {
		return nil, errors.Join(errors.New("nats"), a.Error) // compared by Error() below
	}
	if a.PubAck == nil || a.PubAck.Stream == "" {
		return nil, jetstream.ErrInvalidJSAck
	}
	return a.PubAck, nil
}

// pubAckSeeds are answers nats-server writes (the first four as it wrote them in
// TestSyncPublishAnswersAsJetStreamDoes), and broken ones.
var pubAckSeeds = []string{
	`{"stream":"EPAY_INBOX","seq":1}`,
	`{"stream":"EPAY_INBOX","seq":1,"duplicate":true}`,
	`{"stream":"EPAY_INBOX","domain":"hub","seq":18446744073709551615}`,
	`{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"","seq":0}`,
	`{"type":"io.nats.jetstream.api.v1.pub_ack","stream":"S","seq":2,"val":"x"}`,
	`{"error":null,"stream":"S","seq":null,"duplicate":null}`,
	`{"error":{},"stream":"S"}`,
	`{"error":"bad"}`,
	`{"stream":"S\u00e9\n","seq":1}`,
	`{"stream":"S","seq":-1}`,
	`{"stream":"S","seq":1.5}`,
	`{"stream":"S","seq":"1"}`,
	`{"stream":"S","duplicate":1}`,
	`{"stream":5}`,
	`{"error":{"code":"503"}}`,
	`{"error":{"err_code":70000}}`,
	`{"stream":"S","extra":{"a":[1,2,{"b":null}]}}`,
	`{"s\u0074ream":"S","seq":3}`,
	`{"stream":"A","stream":"B"}`,
	`{"seq":1}`,
	`null`, `[]`, `"x"`, ``, `{`, `{"stream":"S"} x`,
}

func TestReadPubAckReadsAsJetStreamDoes(t *testing.T) {
	for _, s := range pubAckSeeds {
		samePubAck(t, []byte(s))
	}
}

func FuzzReadPubAck(f *testing.F) {
	for _, s := range pubAckSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(samePubAck)
}

// samePubAck fails when readPubAck and jetstream's reading of data differ. Answers with
// a key that differs from JetStream's only in case are skipped: encoding/json matches
// keys ignoring case (and by Unicode folding), nats-server writes them in lower case,
// and readPubAck matches them exactly.
func samePubAck(t *testing.T, data []byte) {
	if caseVariantKeys(data) {
		t.Skip("a key in another case")
	}
	ours, ourErr := readPubAck(data)
	theirs, theirErr := referencePubAck(data)
	if (ourErr == nil) != (theirErr == nil) {
		t.Fatalf("%q: ours %+v, %v; jetstream's %+v, %v", data, ours, ourErr, theirs, theirErr)
	}
	if ourErr != nil {
		want := theirErr.Error()
		if errors.Is(theirErr, jetstream.ErrInvalidJSAck) {
			if !errors.Is(ourErr, jetstream.ErrInvalidJSAck) {
				t.Fatalf("%q: ours %v, want %v", data, ourErr, theirErr)
			}
			return
		}
		want = "nats: " + strings.TrimPrefix(want, "nats\n")
		var apiErr *jetstream.APIError
		if ourErr.Error() != want || !errors.As(ourErr, &apiErr) {
			t.Fatalf("%q: ours %q, want %q, an APIError", data, ourErr, want)
		}
		return
	}
	if *ours != *theirs {
		t.Fatalf("%q: ours %+v, jetstream's %+v", data, *ours, *theirs)
	}
}

// caseVariantKeys reports whether data's answer or its error has a key that differs
// from one readPubAck knows only in case (or by Unicode folding).
func caseVariantKeys(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	var inner map[string]json.RawMessage
	_ = json.Unmarshal(top["error"], &inner)
	for _, m := range []map[string]json.RawMessage{top, inner} {
		for k := range m {
			for _, known := range []string{"stream", "seq", "duplicate", "domain", "val", "error", "code", "err_code", "description", "type"} {
				if k != known && (strings.EqualFold(k, known) || bytes.ContainsFunc([]byte(k), func(r rune) bool { return r >= 0x80 })) {
					return true
				}
			}
		}
	}
	return false
}
