#!/usr/bin/env node
// A minimal shop backend for epayflow, Node 18+ with no packages (node:http, node:crypto,
// the global fetch).
//
// It does the two things every shop does with epayflow:
//
//   POST /orders            {"orderId": "ORD-1", "amount": "100", "description": "Order 1"}
//                           creates the payment through the initiator (POST /v1/payments,
//                           the order id as Idempotency-Key) and answers what the checkout
//                           page hands to halyk.pay: paymentObject and payformJsUrl.
//   POST /webhooks/epay     receives the webhooks service's deliveries: checks the Standard
//                           Webhooks signature (constant-time, 5 minutes of tolerance, any
//                           of several signatures and secrets), deduplicates by webhook-id,
//                           and records the order's new state: only for an invoice this shop
//                           made for the order, only a version newer than the last seen of
//                           that invoice, and a payment only of the order's amount and
//                           currency (anything else is left for a human: state "review").
//   GET  /orders/{orderId}  what the shop knows of the order.
//
// Configuration, from the environment:
//
//   EPAYFLOW_URL       the initiator, default http://localhost:8080
//   EPAYFLOW_API_KEY   one of its INITIATOR_API_KEYS (make run: dev-merchant-key)
//   WEBHOOK_SECRETS    the endpoint's secret(s) as the webhooks API returned them
//                      (whsec_...), separated by spaces or commas: two while a rotated
//                      secret is rolled out
//   SHOP_ADDR          where to listen, default 127.0.0.1:8000
//
// Orders and seen webhook-ids live in memory here; a real shop keeps both in its database
// and records the webhook-id in the same transaction as the order's change.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");

const TOLERANCE = 300; // seconds between webhook-timestamp and our clock
const MAX_BODY = 256 << 10;

const EPAYFLOW_URL = (process.env.EPAYFLOW_URL || "http://localhost:8080").replace(/\/$/, "");
const API_KEY = process.env.EPAYFLOW_API_KEY || "";
// The HMAC keys: each secret's bytes after whsec_, base64-decoded. A secret that is not
// whsec_ and base64 of at least 24 bytes is refused (Node decodes bad base64 to fewer
// bytes, even none: an empty key would let anyone sign).
const KEYS = (process.env.WEBHOOK_SECRETS || "")
  .split(/[\s,]+/)
  .filter(Boolean)
  .map((s) => {
    const key = /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(s) ? Buffer.from(s.slice(6), "base64") : Buffer.alloc(0);
    if (key.length < 24) {
      console.error(`shop.js: WEBHOOK_SECRETS: ${s.slice(0, 10)}... is not whsec_ and base64 of 24 bytes or more`);
      process.exit(2);
    }
    return key;
  });

// An amount in cents ("100", 100, "100.00" are 10000). A real shop uses a decimal type.
const cents = (x) => Math.round(Number(x) * 100);

// orderId -> {orderId, amount, currency, invoiceId (the latest), invoices: {invoiceId: last
// version seen}, state, review, events: [webhook-ids]}
const orders = new Map();
const seen = new Set(); // webhook-ids already processed

// verify checks a delivery and returns its webhook-id, or throws saying why not.
function verify(headers, body /* Buffer, as received */) {
  const id = headers["webhook-id"] || "";
  const ts = headers["webhook-timestamp"] || "";
  const sigs = headers["webhook-signature"] || "";
  if (!id || !sigs || !/^\d+$/.test(ts)) throw new Error("missing or malformed webhook headers");
  if (Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE) throw new Error("timestamp outside the tolerance");
  for (const key of KEYS) {
    const mac = crypto.createHmac("sha256", key).update(`${id}.${ts}.`).update(body).digest("base64");
    const expected = Buffer.from(`v1,${mac}`);
    for (const sig of sigs.split(" ")) {
      const got = Buffer.from(sig);
      if (got.length === expected.length && crypto.timingSafeEqual(got, expected)) return id;
    }
  }
  throw new Error("no signature matches");
}

// createPayment calls POST /v1/payments and returns [status, answer].
async function createPayment(order) {
  const resp = await fetch(`${EPAYFLOW_URL}/v1/payments`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${API_KEY}`,
      "Content-Type": "application/json",
      "Idempotency-Key": order.orderId, // a retry answers the same invoice
    },
    body: JSON.stringify({
      kind: "payment",
      amount: String(order.amount),
      currency: order.currency || "KZT",
      description: order.description || `Order ${order.orderId}`,
      orderId: order.orderId,
    }),
    signal: AbortSignal.timeout(30_000),
  });
  let answer;
  try {
    answer = await resp.json(); // on 4xx and 5xx: the API's error body
  } catch {
    answer = { error: resp.statusText };
  }
  return [resp.status, answer];
}

function send(res, status, obj) {
  const data = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on("data", (c) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function newOrder(res, body) {
  let order;
  try {
    order = JSON.parse(body);
    if (!order.orderId || order.amount === undefined) throw new Error();
  } catch {
    return send(res, 400, { error: "want orderId and amount" });
  }
  const [status, created] = await createPayment(order);
  if (status !== 200 && status !== 201) {
    // The initiator's error: 400 names the fields, 5xx may be retried with the same key.
    return send(res, 502, { error: `epayflow answered ${status}`, epayflow: created });
  }
  // A real shop takes the amount from its cart, never from the browser.
  const known = orders.get(order.orderId) || { orderId: order.orderId, amount: String(order.amount),
    currency: order.currency || "KZT", state: "created", invoices: {}, events: [] };
  // every invoice made for the order: a payment event of another is not this order's
  if (!(created.invoiceId in known.invoices)) known.invoices[created.invoiceId] = 0;
  known.invoiceId = created.invoiceId;
  orders.set(order.orderId, known);
  send(res, 201, { orderId: order.orderId, invoiceId: created.invoiceId,
    paymentObject: created.paymentObject, payformJsUrl: created.payformJsUrl });
}

function webhook(req, res, body) {
  let id;
  try {
    id = verify(req.headers, body); // the raw body, before any parsing
  } catch (e) {
    console.log(`refused webhook: ${e.message}`);
    return send(res, 401, { error: e.message });
  }
  if (seen.has(id)) return send(res, 200, { duplicate: true }); // at least once: a retry
  let event, inv, kind;
  try {
    event = JSON.parse(body);
    inv = event.data.invoice;
    kind = event.type.split(".").pop();
    if (!inv.invoiceId) throw new Error();
  } catch {
    return send(res, 400, { error: "not a payment event" });
  }
  seen.add(id);
  const order = orders.get(inv.orderId || "");
  if (!order || !(inv.invoiceId in order.invoices)) {
    // not an invoice this shop made for that order: nothing to do (and never "paid":
    // another invoice naming our order id pays nothing of ours)
    console.log(`ignored ${kind} of invoice ${inv.invoiceId}: not an invoice of order ${inv.orderId}`);
    return send(res, 200, { ignored: id });
  }
  const version = Number(inv.version) || 0;
  if (version <= order.invoices[inv.invoiceId]) {
    // an older change of this invoice, come late (a replayed dead letter): the state we
    // hold is newer. Versions count per invoice, not per order.
    return send(res, 200, { stale: id });
  }
  order.invoices[inv.invoiceId] = version;
  order.invoiceId = inv.invoiceId;
  if (kind === "paid") {
    if (cents(inv.amount) === cents(order.amount) && inv.currency === order.currency) order.state = "paid";
    else Object.assign(order, { state: "review", review: `paid ${inv.amount} ${inv.currency}, the order is ${order.amount} ${order.currency}` });
  } else if (kind === "review") {
    Object.assign(order, { state: "review", review: event.data.reason || "review" });
  } else if (kind === "failed" && (order.state === "created" || order.state === "failed")) {
    order.state = "failed"; // a failed attempt never undoes another invoice's payment
  } else if (kind === "cancelled" && order.state !== "paid") {
    order.state = "cancelled"; // a hold released; never undoes another invoice's payment
  } // refunded, charged: the invoice stays paid; data.invoice holds the totals
  order.events.push(id);
  console.log(`accepted ${event.type} invoice=${inv.invoiceId} order=${inv.orderId} id=${id}`);
  send(res, 200, { accepted: id });
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "GET") {
      const m = /^\/orders\/([A-Za-z0-9_.:\/#-]{1,64})$/.exec(req.url);
      const order = m && orders.get(m[1]);
      return order ? send(res, 200, order) : send(res, 404, { error: "no such order" });
    }
    if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
    let body;
    try {
      body = await readBody(req);
    } catch (e) {
      return send(res, 413, { error: e.message });
    }
    if (req.url === "/orders") return await newOrder(res, body);
    if (req.url === "/webhooks/epay") return webhook(req, res, body);
    send(res, 404, { error: "not found" });
  } catch (e) {
    console.error(e);
    if (!res.headersSent) send(res, 500, { error: "internal error" });
  }
});

if (!API_KEY || KEYS.length === 0) {
  console.error("shop.js: set EPAYFLOW_API_KEY and WEBHOOK_SECRETS");
  process.exit(2);
}
const addr = process.env.SHOP_ADDR || "127.0.0.1:8000";
const i = addr.lastIndexOf(":");
server.listen(Number(addr.slice(i + 1)), addr.slice(0, i) || "127.0.0.1", () => {
  const a = server.address();
  console.log(`shop listening on http://${a.address}:${a.port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
