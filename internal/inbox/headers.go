package inbox

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Headers on inbox messages. Every value is a plain string.
const (
	// HeaderInvoiceID is the invoice the message is about, on every message: what a
	// consumer orders by without decoding the body. The decoder refuses a message whose
	// body names another invoice.
	HeaderInvoiceID = "Epay-Invoice-Id"
	// HeaderKind is "success" or "failure", from the callback's code.
	HeaderKind = "Epay-Kind"
	// HeaderRoute is the path the callback came in on (/epay/postlink, /epay/failure-postlink).
	HeaderRoute = "Epay-Route"
	// HeaderReceivedAt is when the message was received or made, RFC 3339 with
	// nanoseconds, UTC.
	HeaderReceivedAt = "Epay-Received-At"
	// HeaderRemoteAddr is the sender's address as the ingest saw it.
	HeaderRemoteAddr = "Epay-Remote-Addr"
	// HeaderRequestID is the ingest's id for the HTTP request; also the correlation id.
	HeaderRequestID = "Epay-Request-Id"
	// HeaderVerified is "true" when secret_hash verified, "false" when the ingest runs
	// with the accept-unverified policy and it did not: the ingest's verdict, for logs and
	// history. Nothing trusts it: the decoder verifies secret_hash itself.
	HeaderVerified = "Epay-Verified"
	// HeaderStatusSignature carries the HMAC of a status message, made with the workers'
	// status key: "v1=<base64url>" (StatusSigner).
	HeaderStatusSignature = "Epay-Status-Sig"
)

// Values of HeaderKind.
const (
	CallbackSuccess = "success"
	CallbackFailure = "failure"
)

// Header is how the decoder reads headers: nats.Header and Watermill's
// message.Metadata both have this method.
type Header interface{ Get(key string) string }

// ReceivedAt is the message's HeaderReceivedAt, or now when it is missing or bad.
func ReceivedAt(h Header) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt)); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}

// Message ids (Nats-Msg-Id). Each is derived from the content, not from who sent it,
// so one thing published twice is stored once, and the decoder derives the same id
// again: a message replayed from the DLQ under another Nats-Msg-Id still dedupes as
// itself.

// CallbackMsgID is the id of a callback: the invoice, ePay's transaction id and the
// outcome code, so ePay's retries of one callback are stored once while a failure and a
// later success of the same invoice are two messages. The code is lower-cased, as
// success is matched ignoring case: "OK", "Ok" and "ok" are one callback.
func CallbackMsgID(invoiceID, transactionID, code string) string {
	return "cb:" + invoiceID + ":" + transactionID + ":" + strings.ToLower(code)
}

// UnverifiedCallbackMsgID is the id of a callback whose secret_hash did not verify:
// CallbackMsgID + ":unverified", so that a forged callback arriving first can never
// take the place of (and make JetStream drop) the verified one with the same
// transaction id and code.
func UnverifiedCallbackMsgID(invoiceID, transactionID, code string) string {
	return CallbackMsgID(invoiceID, transactionID, code) + ":unverified"
}

// callbackID is the id of a callback, by its verification.
func callbackID(invoiceID, transactionID, code string, verified bool) string {
	if verified {
		return CallbackMsgID(invoiceID, transactionID, code)
	}
	return UnverifiedCallbackMsgID(invoiceID, transactionID, code)
}

// appendCallbackID appends the id of a callback, by its verification, to dst: the
// bytes of CallbackMsgID or UnverifiedCallbackMsgID.
func appendCallbackID(dst []byte, invoiceID, transactionID, code string, verified bool) []byte {
	dst = append(append(append(append(append(dst, "cb:"...), invoiceID...), ':'), transactionID...), ':')
	for i := 0; i < len(code); i++ { // strings.ToLower for ASCII; anything else as it is
		c := code[i]
		if c >= utf8.RuneSelf {
			dst = append(dst[:len(dst)-i], strings.ToLower(code)...)
			break
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if !verified {
		dst = append(dst, ":unverified"...)
	}
	return dst
}

// StatusMsgID is the id of a status answer: the invoice, the check number (the
// invoice's status answers so far + 1), the result code, the transaction status and
// id. The same answer published twice is stored once; a later check is a new message.
func StatusMsgID(invoiceID string, check int, resultCode, statusName, transactionID string) string {
	return "st:" + invoiceID + ":" + itoa(check) + ":" + resultCode + ":" + statusName + ":" + transactionID
}

// CreatedMsgID is the id of invoice.created: the invoiceId itself (the worker's message
// id; its Nats-Msg-Id is CreatedNatsMsgID).
func CreatedMsgID(invoiceID string) string { return invoiceID }
