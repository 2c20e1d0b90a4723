/*
 * ePay sandbox: payment-api.js. A local imitation of Halyk ePay's payment script.
 * Defines window.halyk with pay, p2p, oct and showPaymentWidget. Each checks the payment
 * object, then posts it to the sandbox card form on the origin this script came from.
 */
(function (global) {
  'use strict';

  var script = document.currentScript;
  var base = (function () {
    var src = (script && script.src) || '';
    var m = src.match(/^(.*?)\/(?:redesign-)?payform\/payment-api\.js(?:[?#].*)?$/);
    if (m) { return m[1]; }
    try { return new URL(src).origin; } catch (e) { return ''; }
  })();

  function showError(msg) {
    var text = 'halyk: ' + msg;
    if (global.console && console.error) { console.error(text); }
    var el = document.getElementById('halyk-error');
    if (!el) {
      el = document.createElement('div');
      el.id = 'halyk-error';
      el.setAttribute('role', 'alert');
      el.style.cssText = 'margin:12px 0;padding:10px 12px;border:1px solid #f5c2bd;' +
        'background:#fdecea;color:#b3261e;border-radius:8px;font:14px system-ui,sans-serif;';
      (document.body || document.documentElement).appendChild(el);
    }
    el.textContent = text;
  }

  function validate(obj) {
    if (!obj || typeof obj !== 'object') { return 'the payment object is missing'; }
    if (!obj.auth || typeof obj.auth !== 'object') { return 'auth is missing: pass the whole token response'; }
    if (typeof obj.auth.access_token !== 'string' || obj.auth.access_token === '') {
      return 'auth.access_token is missing';
    }
    var id = obj.invoiceId === undefined || obj.invoiceId === null ? '' : String(obj.invoiceId);
    if (!/^[0-9]{6,15}$/.test(id)) { return 'invoiceId must be 6 to 15 digits, got "' + id + '"'; }
    if (typeof obj.amount !== 'number' || !isFinite(obj.amount) || obj.amount <= 0) {
      return 'amount must be a positive number, got ' + JSON.stringify(obj.amount);
    }
    if (obj.cardSave !== undefined && obj.cardSave !== null && typeof obj.cardSave !== 'boolean') {
      return 'cardSave must be a boolean, got ' + JSON.stringify(obj.cardSave);
    }
    return '';
  }

  function field(form, name, value) {
    var input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function go(mode, obj) {
    var form = document.createElement('form');
    form.method = 'POST';
    form.action = base + '/payform';
    form.style.display = 'none';
    field(form, 'payment', JSON.stringify(obj));
    field(form, 'mode', mode);
    (document.body || document.documentElement).appendChild(form);
    form.submit();
  }

  function start(mode) {
    return function (obj) {
      var err = validate(obj);
      if (err) { showError(err); return false; }
      go(mode, obj);
      return true;
    };
  }

  global.halyk = {
    pay: start('pay'),
    p2p: start('p2p'),
    oct: start('oct'),
    // The real widget opens in a frame and reports through cb; the sandbox reports
    // validation errors through cb and otherwise opens its card form in the page.
    showPaymentWidget: function (obj, cb) {
      var err = validate(obj);
      if (err) {
        showError(err);
        if (typeof cb === 'function') { cb({ success: false, errorCode: 'validation', message: err }); }
        return false;
      }
      go('widget', obj);
      return true;
    }
  };
})(window);
