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
                          and records the order's new state.
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
orders = {}  # orderId -> {"orderId", "invoiceId", "state", "events": [webhook-ids]}
seen = set()  # webhook-ids already processed


def secret_keys(secrets):
    """The HMAC keys: each secret's bytes after whsec_, base64-decoded."""
    return [base64.b64decode(s[len("whsec_"):] if s.startswith("whsec_") else s, validate=True) for s in secrets]


KEYS = secret_keys(SECRETS)


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

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
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
            orders.setdefault(order["orderId"], {"orderId": order["orderId"], "state": "created", "events": []})
            orders[order["orderId"]]["invoiceId"] = created["invoiceId"]
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
                event = json.loads(body)
                inv = event["data"]["invoice"]
            except (ValueError, KeyError, TypeError):
                return self.answer(400, {"error": "not a payment event"})
            order = orders.setdefault(inv.get("orderId") or inv["invoiceId"],
                                      {"orderId": inv.get("orderId"), "events": [], "version": 0})
            seen.add(msg_id)
            version = inv.get("version", 0)
            if version <= order.get("version", 0):
                # an older change of the invoice, come late (a replayed dead letter): the
                # state we hold is newer; the totals in data.invoice are the latest's
                return self.answer(200, {"stale": msg_id})
            order.update(invoiceId=inv["invoiceId"], state=inv["state"], version=version)
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
