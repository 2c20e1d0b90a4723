package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// PublishTimeout bounds a PublishSync whose context has no deadline: jetstream's
// default for its API calls.
const PublishTimeout = 5 * time.Second

// PublishSync is jetstream's PublishMsg for the hot paths (the ingest's callbacks, the
// worker's changelog): the same request, the same retries on no responders and the
// same errors (ErrNoStreamResponse, *jetstream.APIError wrapped as "nats: ...",
// ErrInvalidJSAck), the same PublishTimeout when ctx has no deadline, but the PubAck
// read in place (ReadPubAck) instead of through encoding/json, which cost the ingest
// more CPU than the request itself (bench/NOTES.md, session 9). The expectations
// (Nats-Expected-Stream, Nats-Expected-Last-Subject-Sequence, ...) are msg's headers,
// set by the caller.
func PublishSync(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*jetstream.PubAck, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, PublishTimeout)
		defer cancel()
	}
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	for r := 0; errors.Is(err, nats.ErrNoResponders) && r < jetstream.DefaultPubRetryAttempts; r++ {
		// A stream leader being elected answers nothing for a moment: as jetstream does.
		t := time.NewTimer(jetstream.DefaultPubRetryWait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		resp, err = nc.RequestMsgWithContext(ctx, msg)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, jetstream.ErrNoStreamResponse
	}
	if err != nil {
		return nil, err
	}
	return ReadPubAck(resp.Data)
}

// ReadPubAck reads JetStream's answer to a publish as jetstream's client does: an
// "error" member is that *jetstream.APIError (wrapped as "nats: %w"), an answer that
// is not a JSON object or names no stream is ErrInvalidJSAck. Members it does not know
// are skipped. Keys are matched exactly (nats-server writes them in lower case), where
// encoding/json would also take them in another case.
func ReadPubAck(data []byte) (*jetstream.PubAck, error) {
	var (
		ack    jetstream.PubAck
		apiErr *jetstream.APIError
	)
	sc := jsonscan.ScanObject(data)
	for sc.Next() {
		val := sc.Value()
		if string(val) == "null" {
			continue // leaves the field as it is, as encoding/json does
		}
		var err error
		switch string(keyName(&sc)) {
		case "stream":
			ack.Stream, err = stringValue(val)
		case "seq":
			ack.Sequence, err = strconv.ParseUint(string(val), 10, 64)
		case "duplicate":
			ack.Duplicate, err = boolValue(val)
		case "domain":
			ack.Domain, err = stringValue(val)
		case "val":
			ack.Value, err = stringValue(val)
		case "error":
			apiErr, err = readAPIError(val)
		}
		if err != nil {
			return nil, jetstream.ErrInvalidJSAck
		}
	}
	if sc.Err() != nil {
		return nil, jetstream.ErrInvalidJSAck
	}
	if apiErr != nil {
		return nil, fmt.Errorf("nats: %w", apiErr)
	}
	if ack.Stream == "" {
		return nil, jetstream.ErrInvalidJSAck
	}
	return &ack, nil
}

// readAPIError reads the "error" member of an API answer.
func readAPIError(val []byte) (*jetstream.APIError, error) {
	var e jetstream.APIError
	sc := jsonscan.ScanObject(val)
	for sc.Next() {
		v := sc.Value()
		if string(v) == "null" {
			continue
		}
		var err error
		switch string(keyName(&sc)) {
		case "code":
			e.Code, err = strconv.Atoi(string(v))
		case "err_code":
			var n uint64
			n, err = strconv.ParseUint(string(v), 10, 16)
			e.ErrorCode = jetstream.ErrorCode(n)
		case "description":
			e.Description, err = stringValue(v)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return &e, nil
}

// keyName is the name of the key sc is at, in place when it has no escapes.
func keyName(sc *jsonscan.ObjectScanner) []byte {
	if k, plain := sc.KeyText(); plain {
		return k
	}
	k, _ := jsonscan.Unquote(sc.Key()) // the scanner has checked it
	return []byte(k)
}

// stringValue is a JSON string's value.
func stringValue(val []byte) (string, error) {
	if val[0] != '"' {
		return "", errNotString
	}
	if s, plain := jsonscan.RawString(val); plain {
		return string(s), nil
	}
	return jsonscan.Unquote(val)
}

// boolValue is a JSON true or false.
func boolValue(val []byte) (bool, error) {
	switch string(val) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errNotBool
}

var (
	errNotString = errors.New("not a string")
	errNotBool   = errors.New("not a boolean")
)
