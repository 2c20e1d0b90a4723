package inbox

import (
	"strconv"
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
	// HeaderReceipt is the ingest's receipt of a callback's HTTP request, on callbacks:
	// five fields, one space apart (Receipt.AppendHeader): the route it came in on
	// (/epay/postlink, /epay/failure-postlink), when it was received (RFC 3339 with
	// nanoseconds, UTC), the sender's address as the ingest saw it, the request id (also
	// the correlation id), and "true" when secret_hash verified, "false" when the ingest
	// runs with the accept-unverified policy and it did not: the ingest's verdict, for
	// logs and history. Nothing trusts it: the decoder verifies secret_hash itself. A
	// field the ingest did not have is "-".
	//
	// It replaced five headers of their own (the Header* of Receipt below, which
	// ReceiptOf still reads on messages stored before): nats-server looks each header it
	// knows up by scanning a message's whole header block, and the five names cost it
	// about 3.5 us a message (bench/NOTES.md, session 21).
	HeaderReceipt = "Epay-Receipt"
	// HeaderReceivedAt is when a message other than a callback was made, RFC 3339 with
	// nanoseconds, UTC (a callback's is in HeaderReceipt; older callbacks had this too).
	HeaderReceivedAt = "Epay-Received-At"
	// The receipt's fields as callbacks stored before HeaderReceipt carried them, one
	// header each: read by ReceiptOf, written by nothing.
	HeaderRoute      = "Epay-Route"
	HeaderRemoteAddr = "Epay-Remote-Addr"
	HeaderRequestID  = "Epay-Request-Id"
	HeaderVerified   = "Epay-Verified"
	// HeaderStatusSignature carries the HMAC of a status message, made with the workers'
	// status key: "v1=<base64url>" (StatusSigner).
	HeaderStatusSignature = "Epay-Status-Sig"
	// HeaderStateSignature carries the HMAC of an EPAY_STATE record, made with the
	// workers' status key in a domain of its own (StatusSigner.SignState).
	HeaderStateSignature = "Epay-State-Sig"
)

// Values of HeaderKind.
const (
	CallbackSuccess = "success"
	CallbackFailure = "failure"
)

// Header is how the decoder reads headers: nats.Header and Watermill's
// message.Metadata both have this method.
type Header interface{ Get(key string) string }

// ReceivedAt is when the message was received or made: its HeaderReceivedAt, or its
// receipt's time, or now when neither is there or good.
func ReceivedAt(h Header) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt)); err == nil {
		return t.UTC()
	}
	if r, ok := ReceiptOf(h); ok {
		return r.At
	}
	return time.Now().UTC()
}

// RequestID is the request id of a callback's receipt ("" when it has none): the
// correlation id of its message.
func RequestID(h Header) string {
	if v := h.Get(HeaderReceipt); v != "" {
		f, _ := splitReceipt(v)
		return known(f[3])
	}
	return h.Get(HeaderRequestID)
}

// receiptFields is how many fields a HeaderReceipt has.
const receiptFields = 5

// splitReceipt is the fields of a HeaderReceipt value v; ok is false, and the fields
// empty, when v has not exactly receiptFields of them.
func splitReceipt(v string) (f [receiptFields]string, ok bool) {
	for i := range f {
		var more bool
		f[i], v, more = strings.Cut(v, " ")
		if more != (i < receiptFields-1) {
			return [receiptFields]string{}, false
		}
	}
	return f, true
}

// known is a receipt's field, "" for the "-" of a field the ingest did not have.
func known(field string) string {
	if field == "-" {
		return ""
	}
	return field
}

// ReceiptOf reads a callback's receipt from its HeaderReceipt, or from the five headers
// of a callback stored before it; ok is false when the message has neither (or a
// receipt that is not five fields with a good time).
func ReceiptOf(h Header) (r Receipt, ok bool) {
	v := h.Get(HeaderReceipt)
	if v == "" {
		at, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt))
		if err != nil || h.Get(HeaderRoute) == "" {
			return Receipt{}, false
		}
		return Receipt{Route: h.Get(HeaderRoute), RemoteAddr: h.Get(HeaderRemoteAddr), RequestID: h.Get(HeaderRequestID),
			At: at.UTC(), Verified: h.Get(HeaderVerified) == "true"}, true
	}
	f, ok := splitReceipt(v)
	if !ok {
		return Receipt{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return Receipt{}, false
	}
	return Receipt{Route: known(f[0]), At: at.UTC(), RemoteAddr: known(f[2]), RequestID: known(f[3]), Verified: f[4] == "true"}, true
}

// appendReceiptField appends s to a receipt being written: "-" for "", and any byte
// that would end the field or the header (a space, a control) made '_'.
func appendReceiptField(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// AppendHeader appends r as HeaderReceipt's value to dst.
func (r Receipt) AppendHeader(dst []byte) []byte {
	dst = append(appendReceiptField(dst, r.Route), ' ')
	dst = append(r.At.UTC().AppendFormat(dst, time.RFC3339Nano), ' ')
	dst = append(appendReceiptField(dst, r.RemoteAddr), ' ')
	dst = append(appendReceiptField(dst, r.RequestID), ' ')
	return strconv.AppendBool(dst, r.Verified)
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
