// The pay button: create the payment on the initiator's shop route (no API key: the
// route takes the page's own fields only and sends the buyer back to this shop's return
// pages), then hand the payment object to ePay's form library.
(function () {
  "use strict";
  var form = document.getElementById("order");
  var pay = document.getElementById("pay");
  var errorBox = document.getElementById("error");
  var statusBox = document.getElementById("status");
  var product = document.getElementById("product");
  var amount = document.getElementById("amount");

  product.addEventListener("change", function () {
    amount.value = product.selectedOptions[0].dataset.amount;
  });

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    statusBox.textContent = "";
    pay.disabled = false;
  }

  function describe(body, status) {
    if (body && body.fields) {
      return Object.keys(body.fields).sort().map(function (f) {
        return f + ": " + body.fields[f];
      }).join("; ");
    }
    return (body && body.error) || "request failed with HTTP " + status;
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.halyk) { resolve(); return; }
      var s = document.createElement("script");
      s.src = src;
      s.onload = function () { resolve(); };
      s.onerror = function () { reject(new Error("could not load the ePay form from " + src)); };
      document.head.appendChild(s);
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    errorBox.hidden = true;
    pay.disabled = true;
    statusBox.textContent = "Creating the payment…";
    var kind = form.querySelector('input[name="kind"]:checked').value;
    var req = {
      kind: kind,
      amount: amount.value.trim(),
      currency: "KZT",
      description: product.value,
      language: "eng",
      cardSave: false
    };
    var email = document.getElementById("email").value.trim();
    var phone = document.getElementById("phone").value.trim();
    if (email) { req.email = email; }
    if (phone) { req.phone = phone; }
    fetch("/shop/payments", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(req)
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        if (!res.ok) { throw new Error(describe(body, res.status)); }
        return body;
      });
    }).then(function (created) {
      statusBox.textContent = "Invoice " + created.invoiceId + ": opening the ePay form…";
      return loadScript(created.payformJsUrl).then(function () {
        if (!window.halyk) { throw new Error("the ePay form library did not define halyk"); }
        if (kind === "p2p") {
          window.halyk.p2p(created.paymentObject);
        } else {
          window.halyk.pay(created.paymentObject);
        }
      });
    }).catch(function (err) {
      showError(err.message || String(err));
    });
  });
}());
