// Shows an invoice's state as the worker knows it. ePay's callback may land a moment
// after the browser comes back, so it polls (every 500 ms, for at most 20 s) until the
// state is final. The page's link carries the invoice's token; the read needs it.
(function () {
  "use strict";
  var FINAL = { paid: true, failed: true, review: true };
  var INTERVAL_MS = 500, LIMIT_MS = 20000;
  var main = document.querySelector("main");
  var id = main.dataset.invoiceId;
  var token = main.dataset.token || "";
  var stateBox = document.getElementById("state");
  var reasonBox = document.getElementById("reason");
  var note = document.getElementById("note");
  var started = Date.now();

  if (!id) {
    stateBox.textContent = "unknown";
    note.textContent = "No invoiceId in the link.";
    return;
  }

  function show(view) {
    stateBox.textContent = view.state;
    if (view.state === "failed" && view.reason) {
      var text = view.reason.en || view.reason.ru || "";
      if (view.reasonCode !== undefined) { text += " (code " + view.reasonCode + ")"; }
      reasonBox.textContent = text;
      reasonBox.hidden = false;
    }
  }

  function again(message) {
    if (Date.now() - started >= LIMIT_MS) {
      note.textContent = message || "No final answer yet; reload the page later.";
      return;
    }
    setTimeout(poll, INTERVAL_MS);
  }

  function poll() {
    fetch("/v1/invoices/" + encodeURIComponent(id) + "?token=" + encodeURIComponent(token),
      { headers: { "Accept": "application/json" }, credentials: "omit", referrerPolicy: "no-referrer" })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (res.ok && body && body.state) {
            show(body);
            if (FINAL[body.state]) { note.textContent = ""; return; }
            again();
            return;
          }
          again((body && body.error) || "The payment service answered HTTP " + res.status + ".");
        });
      })
      .catch(function () { again("The payment service is unreachable."); });
  }
  poll();
}());
