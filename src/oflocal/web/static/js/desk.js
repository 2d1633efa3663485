/* The sales desk: scan booklet covers, take the money, press Sell, read out the receipt.
 *
 * One sale attempt has one Idempotency-Key. If the network fails, Retry (or Sell again
 * with the same booklets and payment method) re-sends the same key, so the booklets are
 * never sold twice. Any change to the sale, or a final answer, starts a new attempt.
 */
(function () {
  "use strict";
  var O = window.Oflocal, Codes = window.OflocalCodes, $ = O.$;
  var config = O.pageConfig();
  var L = config.labels[config.lang];
  if (!$("scan-form")) return;

  var lines = [];          // canonical booklet codes, in scan order
  var attempt = null;      // {key, signature} of the sale being sent or to be retried
  var busy = false;

  var input = $("code"), scanMsg = $("scan-msg"), saleError = $("sale-error");
  var receipt = $("receipt"), sellButton = $("sell"), retryButton = $("retry");

  function programme() {
    var id = Number($("programme").value);
    for (var i = 0; i < config.programmes.length; i++) {
      if (config.programmes[i].id === id) return config.programmes[i];
    }
    return config.programmes[0];
  }

  function method() {
    var checked = document.querySelector('input[name="method"]:checked');
    return checked ? checked.value : "cash";
  }

  function bookletsText(n) { return n === 1 ? L.booklet_one : O.fill(L.booklets, { n: n }); }

  function signature() { return [programme().id, method(), lines.join(",")].join("|"); }

  function render() {
    var p = programme();
    O.setText($("programme-terms"),
      p.name + " — " + L.price + " " + O.yen(p.price) + " · " + L.face + " " + O.yen(p.face_value));
    var list = $("lines");
    list.textContent = "";
    lines.forEach(function (code, index) {
      var li = document.createElement("li");
      var text = document.createElement("span");
      text.className = "line-code";
      text.textContent = Codes.grouped(code);
      var price = document.createElement("span");
      price.className = "line-price";
      price.textContent = O.yen(p.price);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn plain small";
      remove.textContent = L.remove;
      remove.addEventListener("click", function () {
        lines.splice(index, 1);
        changed();
        input.focus();
      });
      li.appendChild(text);
      li.appendChild(price);
      li.appendChild(remove);
      list.appendChild(li);
    });
    $("lines-empty").hidden = lines.length > 0;
    O.setText($("count-line"), bookletsText(lines.length) + " × " + O.yen(p.price));
    O.setText($("total"), O.yen(lines.length * p.price));
    sellButton.disabled = busy || lines.length === 0;
  }

  function changed() {
    if (attempt && attempt.signature !== signature()) attempt = null;
    saleError.hidden = true;
    render();
  }

  function refuse(box, texts) { O.showRefusal(box, texts); }

  function add(text) {
    scanMsg.hidden = true;
    if (!String(text).trim()) return;
    var parsed = Codes.parse(text);
    var shown = String(text).slice(0, 40);
    if (!parsed.ok) {
      refuse(scanMsg, O.clientRefusal(config, "code." + parsed.reason, { code: shown }));
      return;
    }
    if (parsed.kind !== "B") {
      refuse(scanMsg, O.clientRefusal(config, "code.not_a_booklet", { code: shown }));
      return;
    }
    if (lines.indexOf(parsed.code) >= 0) {
      refuse(scanMsg, O.clientRefusal(config, "sale.duplicate_code", { code: Codes.grouped(parsed.code) }));
      return;
    }
    var limit = programme().max_per_sale;
    if (lines.length >= limit) {
      refuse(scanMsg, O.clientRefusal(config, "sale.limit_exceeded", { limit: limit }));
      return;
    }
    lines.push(parsed.code);
    changed();
  }

  function sell() {
    if (busy) return;
    if (!lines.length) {
      refuse(saleError, O.clientRefusal(config, "sale.empty", {}));
      return;
    }
    if (!attempt || attempt.signature !== signature()) {
      attempt = { key: O.newKey(), signature: signature() };
    }
    send(attempt);
  }

  function send(current) {
    busy = true;
    scanMsg.hidden = true;
    saleError.hidden = true;
    retryButton.hidden = true;
    O.setText(sellButton, L.sending);
    render();
    var p = programme();
    O.postJSON("/api/v1/programmes/" + p.id + "/sales",
               { booklet_codes: lines.slice(), payment_method: method() }, current.key)
      .then(function (answer) {
        busy = false;
        O.setText(sellButton, L.sell);
        if (answer.status >= 200 && answer.status < 300) {
          attempt = null;
          showReceipt(answer.body);
        } else if (answer.status >= 500 || !answer.body) {
          networkTrouble();
        } else {
          attempt = null;  // a refusal is final for this key; a new try is a new attempt
          refuse(saleError, O.serverRefusal(config, answer.body) ||
                 O.bilingual(config.lang, String(answer.status), String(answer.status)));
        }
        render();
      }, function () {
        busy = false;
        O.setText(sellButton, L.sell);
        networkTrouble();
        render();
      });
  }

  function networkTrouble() {
    refuse(saleError, O.bilingual(config.lang, config.labels.ja.network, config.labels.en.network));
    retryButton.hidden = false;
  }

  function showReceipt(body) {
    O.setText($("receipt-number"), body.receipt_number);
    O.setText($("receipt-amount"), O.yen(body.amount_paid));
    O.setText($("receipt-detail"),
      bookletsText(body.booklet_count) + " · " +
      (config.methods[body.payment_method] || body.payment_method) + " · " + O.tokyoTime(body.sold_at));
    var list = $("receipt-codes");
    list.textContent = "";
    body.booklets.forEach(function (code) {
      var li = document.createElement("li");
      li.textContent = Codes.grouped(code);
      list.appendChild(li);
    });
    lines = [];
    scanMsg.hidden = true;
    saleError.hidden = true;
    $("sale-form").hidden = true;
    receipt.hidden = false;
    render();
    $("next-customer").focus();
  }

  $("scan-form").addEventListener("submit", function (event) {
    event.preventDefault();
    add(input.value);
    input.value = "";
    input.focus();
  });
  sellButton.addEventListener("click", sell);
  retryButton.addEventListener("click", function () { if (attempt) send(attempt); });
  $("programme").addEventListener("change", function () { lines = []; changed(); });
  Array.prototype.forEach.call(document.querySelectorAll('input[name="method"]'), function (radio) {
    radio.addEventListener("change", changed);
  });
  $("next-customer").addEventListener("click", function () {
    receipt.hidden = true;
    $("sale-form").hidden = false;
    saleError.hidden = true;
    scanMsg.hidden = true;
    var cash = document.querySelector('input[name="method"][value="cash"]');
    if (cash) cash.checked = true;
    render();
    input.focus();
  });

  /* Voiding unsold stock: no money moves, so no idempotency key is needed. The booklet
     is looked up first and the page says what voiding it means before anything changes. */
  var voidForm = $("void-form"), voidMsg = $("void-msg"), voidAsk = $("void-confirm");
  var voidPending = null;

  function voidSays(texts, done) {
    voidMsg.className = done ? "done" : "refusal";
    O.showRefusal(voidMsg, texts);
  }
  function voidNetworkTrouble() {
    voidSays(O.bilingual(config.lang, config.labels.ja.network, config.labels.en.network));
  }

  voidForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("void-code").value, reason = $("void-reason").value.trim();
    voidAsk.hidden = true;
    voidMsg.hidden = true;
    var parsed = Codes.parse(text);
    if (!parsed.ok || parsed.kind !== "B") {
      var code = !parsed.ok ? "code." + parsed.reason : "code.not_a_booklet";
      voidSays(O.clientRefusal(config, code, { code: String(text).slice(0, 40) }));
      return;
    }
    if (!reason) {
      voidSays(O.clientRefusal(config, "void.reason_required", {}));
      return;
    }
    O.fetchJSON("/api/v1/booklets/" + encodeURIComponent(parsed.code)).then(function (answer) {
      var b = answer.body;
      if (answer.status !== 200) {
        voidSays(O.serverRefusal(config, b) ||
                 O.bilingual(config.lang, String(answer.status), String(answer.status)));
      } else if (!b.voidable) {
        voidSays(O.clientRefusal(config, b.status === "sold" ? "booklet.not_voidable"
                                                             : "booklet.voided",
                                 { code: Codes.grouped(b.code) }));
      } else {
        voidPending = { code: b.code, reason: reason };
        O.setText($("void-confirm-text"), O.fill(L.void_summary, {
          serial: b.serial, programme: b.programme_name, tickets: b.tickets,
          face: O.yen(b.face_value) }));
        O.setText($("void-confirm-code"), Codes.grouped(b.code) + " · " + reason);
        voidAsk.hidden = false;
        $("void-yes").focus();
      }
    }, voidNetworkTrouble);
  });

  $("void-no").addEventListener("click", function () {
    voidPending = null;
    voidAsk.hidden = true;
    $("void-code").focus();
  });

  $("void-yes").addEventListener("click", function () {
    if (!voidPending) return;
    var asked = voidPending;
    voidPending = null;
    voidAsk.hidden = true;
    O.postJSON("/api/v1/booklets/void", asked, null).then(function (answer) {
      if (answer.status === 200) {
        voidSays(O.bilingual(config.lang,
          config.labels.ja.voided + ": " + Codes.grouped(answer.body.code),
          config.labels.en.voided + ": " + Codes.grouped(answer.body.code)), true);
        voidForm.reset();
      } else {
        voidSays(O.serverRefusal(config, answer.body) ||
                 O.bilingual(config.lang, String(answer.status), String(answer.status)));
      }
    }, voidNetworkTrouble);
  });

  render();
})();
