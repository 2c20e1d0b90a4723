package natsbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// pubAckAnswer is jetstream's own reading of a PubAck (its pubAckResponse), the
// reference ReadPubAck is held against.
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
// the ingest's TestSyncPublishAnswersAsJetStreamDoes), and broken ones.
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

// samePubAck fails when ReadPubAck and jetstream's reading of data differ. Answers with
// a key that differs from JetStream's only in case are skipped: encoding/json matches
// keys ignoring case (and by Unicode folding), nats-server writes them in lower case,
// and ReadPubAck matches them exactly.
func samePubAck(t *testing.T, data []byte) {
	if caseVariantKeys(data) {
		t.Skip("a key in another case")
	}
	ours, ourErr := ReadPubAck(data)
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
// from one ReadPubAck knows only in case (or by Unicode folding).
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
