#!/usr/bin/env python3
"""A minimal shop backend for epayflow, standard library only (Python 3.9+).

It does the two things every shop does with epayflow:

  POST /orders            {"orderId": "ORD-1", "amount": "100", "description": "Order 1"}
                          creates the payment through the initiator (POST /v1/payments,
                          the order id as Idempotency-Key) and answers what the checkout
                          page hands to halyk.pay: paymentObject and payformJsUrl.
  POST /webhooks/epay     receives the webhooks service's deliveries: checks the Standard
                          Webhooks signature (constant-time, 5 minutes of tolerance, any
                          of several signatures and secrets), deduplicates by webhook-id,
                          and records the order's new state: only for an invoice this shop
                          made for the order, only a version newer than the last seen of
                          that invoice, and a payment only of the order's amount and
                          currency (anything else is left for a human: state "review").
  GET  /orders/{orderId}  what the shop knows of the order.

Configuration, from the environment:

  EPAYFLOW_URL       the initiator, default http://localhost:8080
  EPAYFLOW_API_KEY   one of its INITIATOR_API_KEYS (make run: dev-merchant-key)
  WEBHOOK_SECRETS    the endpoint's secret(s) as the webhooks API returned them
                     (whsec_...), separated by spaces or commas: two while a rotated
                     secret is rolled out
  SHOP_ADDR          where to listen, default 127.0.0.1:8000

Orders and seen webhook-ids live in memory here; a real shop keeps both in its database
and records the webhook-id in the same transaction as the order's change.
"""

import base64
import decimal
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 300  # seconds between webhook-timestamp and our clock
MAX_BODY = 256 << 10

EPAYFLOW_URL = os.environ.get("EPAYFLOW_URL", "http://localhost:8080").rstrip("/")
API_KEY = os.environ.get("EPAYFLOW_API_KEY", "")
SECRETS = [s for s in re.split(r"[\s,]+", os.environ.get("WEBHOOK_SECRETS", "")) if s]

lock = threading.Lock()
# orderId -> {"orderId", "amount", "currency", "invoiceId" (the latest), "invoices":
# {invoiceId: last version seen}, "state", "review", "events": [webhook-ids]}
orders = {}
seen = set()  # webhook-ids already processed


def secret_keys(secrets):
    """The HMAC keys: each secret's bytes after whsec_, base64-decoded. A secret that is
    not whsec_ and base64 of at least 24 bytes is refused: an empty key would let anyone
    sign."""
    keys = []
    for s in secrets:
        if not re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", s):
            sys.exit("shop.py: WEBHOOK_SECRETS: %r is not whsec_ and base64" % (s[:10] + "..."))
        key = base64.b64decode(s[len("whsec_"):], validate=True)
        if len(key) < 24:
            sys.exit("shop.py: WEBHOOK_SECRETS: a secret of %d bytes; the webhooks API gives 32" % len(key))
        keys.append(key)
    return keys


KEYS = secret_keys(SECRETS)


def money(x):
    """An amount as a Decimal with cents ("100", 100, 100.0 and "100.00" are equal)."""
    return decimal.Decimal(str(x)).quantize(decimal.Decimal("0.01"))


def verify(headers, body: bytes) -> str:
    """Checks a delivery; returns its webhook-id, or raises ValueError saying why not."""
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    sigs = headers.get("webhook-signature", "")
    if not msg_id or not sigs or not ts.isdigit():
        raise ValueError("missing or malformed webhook headers")
    if abs(time.time() - int(ts)) > TOLERANCE:
        raise ValueError("timestamp outside the tolerance")
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    for key in KEYS:
        expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for sig in sigs.split(" "):
            if hmac.compare_digest(expected.encode(), sig.encode()):
                return msg_id
    raise ValueError("no signature matches")


def create_payment(order):
    """POST /v1/payments; returns (status, answer)."""
    body = {
        "kind": "payment",
        "amount": str(order["amount"]),
        "currency": order.get("currency", "KZT"),
        "description": order.get("description") or "Order " + order["orderId"],
        "orderId": order["orderId"],
    }
    req = urllib.request.Request(
        EPAYFLOW_URL + "/v1/payments",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": "Bearer " + API_KEY,
            "Content-Type": "application/json",
            "Idempotency-Key": order["orderId"],  # a retry answers the same invoice
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:  # 4xx, 5xx: the API's error body
        try:
            return e.code, json.load(e)
        except ValueError:
            return e.code, {"error": e.reason}


class Shop(BaseHTTPRequestHandler):
    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    timeout = 10  # seconds a client may take between bytes: a slow one holds a thread

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def do_GET(self):
        m = re.fullmatch(r"/orders/([A-Za-z0-9_.:/#-]{1,64})", self.path)
        with lock:
            order = orders.get(m.group(1)) if m else None
            if order:
                return self.answer(200, order)
        self.answer(404, {"error": "no such order"})

    def do_POST(self):
        try:
            body = self.body()
        except ValueError as e:
            return self.answer(413, {"error": str(e)})
        if self.path == "/orders":
            return self.new_order(body)
        if self.path == "/webhooks/epay":
            return self.webhook(body)
        self.answer(404, {"error": "not found"})

    def new_order(self, body):
        # A real shop takes the amount from its cart, never from the browser.
        try:
            order = json.loads(body)
            order["orderId"], order["amount"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": "want orderId and amount"})
        status, created = create_payment(order)
        if status not in (200, 201):
            # The initiator's error: 400 names the fields, 5xx may be retried with the same key.
            return self.answer(502, {"error": "epayflow answered %d" % status, "epayflow": created})
        with lock:
            known = orders.setdefault(order["orderId"], {
                "orderId": order["orderId"], "amount": str(order["amount"]),
                "currency": order.get("currency", "KZT"), "state": "created", "invoices": {}, "events": []})
            # every invoice made for the order: a payment event of another is not this order's
            known["invoices"].setdefault(created["invoiceId"], 0)
            known["invoiceId"] = created["invoiceId"]
        self.answer(201, {"orderId": order["orderId"], "invoiceId": created["invoiceId"],
                          "paymentObject": created["paymentObject"], "payformJsUrl": created["payformJsUrl"]})

    def webhook(self, body):
        try:
            msg_id = verify(self.headers, body)  # the raw body, before any parsing
        except ValueError as e:
            print("refused webhook:", e, flush=True)
            return self.answer(401, {"error": str(e)})
        with lock:
            if msg_id in seen:  # at least once: a retry of what we already have
                return self.answer(200, {"duplicate": True})
            try:
                event = json.loads(body, parse_float=decimal.Decimal)
                inv = event["data"]["invoice"]
                kind = event["type"].rsplit(".", 1)[-1]
                invoice_id, version = inv["invoiceId"], int(inv.get("version", 0))
            except (ValueError, KeyError, TypeError, AttributeError, decimal.InvalidOperation):
                return self.answer(400, {"error": "not a payment event"})
            seen.add(msg_id)
            order = orders.get(inv.get("orderId") or "")
            if order is None or invoice_id not in order["invoices"]:
                # not an invoice this shop made for that order: nothing to do (and never
                # "paid": another invoice naming our order id pays nothing of ours)
                print("ignored %s of invoice %s: not an invoice of order %s" % (kind, invoice_id, inv.get("orderId")), flush=True)
                return self.answer(200, {"ignored": msg_id})
            if version <= order["invoices"][invoice_id]:
                # an older change of this invoice, come late (a replayed dead letter): the
                # state we hold is newer. Versions count per invoice, not per order.
                return self.answer(200, {"stale": msg_id})
            order["invoices"][invoice_id] = version
            order["invoiceId"] = invoice_id
            try:
                paid_amount = money(inv.get("amount", -1))
            except decimal.InvalidOperation:
                paid_amount = None
            if kind == "paid":
                if paid_amount is not None and paid_amount == money(order["amount"]) and inv.get("currency") == order["currency"]:
                    order["state"] = "paid"
                else:
                    order["state"], order["review"] = "review", "paid %s %s, the order is %s %s" % (
                        inv.get("amount"), inv.get("currency"), order["amount"], order["currency"])
            elif kind == "review":
                order["state"], order["review"] = "review", event["data"].get("reason") or "review"
            elif kind == "failed" and order["state"] in ("created", "failed"):
                order["state"] = "failed"  # a failed attempt never undoes another invoice's payment
            elif kind == "cancelled" and order["state"] != "paid":
                order["state"] = "cancelled"  # a hold released; never undoes another invoice's payment
            # refunded, charged: the invoice stays paid; data.invoice holds the totals
            order["events"].append(msg_id)
        print("accepted %s invoice=%s order=%s id=%s" % (event["type"], inv["invoiceId"], inv.get("orderId"), msg_id), flush=True)
        self.answer(200, {"accepted": msg_id})

    def log_message(self, fmt, *args):  # one line per request on stderr
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    if not API_KEY or not KEYS:
        sys.exit("shop.py: set EPAYFLOW_API_KEY and WEBHOOK_SECRETS")
    host, _, port = os.environ.get("SHOP_ADDR", "127.0.0.1:8000").rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Shop)
    print("shop listening on http://%s:%d" % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
