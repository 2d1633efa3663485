/* Small helpers shared by the desk and the booth pages. No framework, no build step. */
(function (root) {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function pageConfig() {
    var node = $("page-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* A fresh Idempotency-Key for one attempt. crypto.randomUUID needs HTTPS; this works
   * on a plain-HTTP venue network too. */
  function newKey() {
    var bytes = new Uint8Array(16);
    root.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] + 256).toString(16).slice(1);
    return "ofl-" + hex;
  }

  function yen(amount) {
    var n = Math.round(Number(amount) || 0);
    var sign = n < 0 ? "-" : "";
    return sign + "¥" + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  var timeFormat = new Intl.DateTimeFormat("ja-JP", {
    timeZone: "Asia/Tokyo", hour: "2-digit", minute: "2-digit", hour12: false
  });
  function tokyoTime(iso) { return timeFormat.format(new Date(iso)); }

  /* "{code}" and "{limit}" placeholders, as Python's str.format fills them. */
  function fill(template, facts) {
    return String(template).replace(/\{(\w+)(?::[^}]*)?\}/g, function (whole, name) {
      return facts && facts[name] != null ? String(facts[name]) : whole;
    });
  }

  /* A refusal in the page's language first and the other one second. */
  function bilingual(lang, ja, en) {
    return lang === "en" ? { primary: en, secondary: ja } : { primary: ja, secondary: en };
  }

  function clientRefusal(config, code, facts) {
    var m = config.messages[code];
    return bilingual(config.lang, fill(m.ja, facts), fill(m.en, facts));
  }

  function serverRefusal(config, body) {
    if (body && body.message_ja) {
      return bilingual(config.lang, body.message_ja, body.message_en || body.message_ja);
    }
    return null;
  }

  /* POST JSON. Resolves {status, body, replayed}; rejects only when no answer came
   * (network down, timeout), which the caller offers to retry with the same key. */
  function postJSON(url, payload, key, timeoutMs) {
    var headers = { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() };
    if (key) headers["Idempotency-Key"] = key;
    var controller = root.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs || 15000) : null;
    return fetch(url, {
      method: "POST",
      headers: headers,
      body: JSON.stringify(payload || {}),
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (timer) clearTimeout(timer);
      return response.json().catch(function () { return null; }).then(function (body) {
        return {
          status: response.status,
          body: body,
          replayed: response.headers.get("Idempotent-Replayed") === "true"
        };
      });
    }, function (error) {
      if (timer) clearTimeout(timer);
      throw error;
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
  }

  /* GET JSON. Resolves {status, body} whatever the status; rejects when no answer came. */
  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          return { status: response.status, body: body };
        });
      });
  }

  function setText(node, text) { if (node) node.textContent = text == null ? "" : String(text); }

  function showRefusal(box, texts) {
    setText(box.querySelector(".refusal-primary"), texts.primary);
    setText(box.querySelector(".refusal-secondary"), texts.secondary);
    box.hidden = false;
  }

  root.Oflocal = {
    $: $, pageConfig: pageConfig, newKey: newKey, yen: yen, tokyoTime: tokyoTime, fill: fill,
    bilingual: bilingual, clientRefusal: clientRefusal, serverRefusal: serverRefusal,
    postJSON: postJSON, getJSON: getJSON, fetchJSON: fetchJSON, setText: setText, showRefusal: showRefusal
  };
})(window);
