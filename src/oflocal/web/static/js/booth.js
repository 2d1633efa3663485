/* The workshop's point of sale. Read top to bottom: entry -> check on the phone ->
 * send (one Idempotency-Key per attempt) -> a full-screen answer -> today's list.
 *
 * - A typed or scanned code is checked here first (shape and check character), so a
 *   typo never reaches the server.
 * - One ticket: Enter takes it at once. Several: "Several tickets at once" queues them
 *   and "Accept all" takes them in one request (all or none).
 * - No answer (network down, timeout, server error): the answer screen offers Retry,
 *   which sends the very same request with the same key. The attempt is kept in
 *   sessionStorage, so even a reload can still ask what happened to it.
 * - Every accepted redemption is also kept on the phone (kept.js), for the day the
 *   server's books come back from a backup.
 */
(function () {
  "use strict";
  var O = window.Oflocal, Codes = window.OflocalCodes, Kept = window.OflocalKept, $ = O.$;
  var config = O.pageConfig();
  var lang = config.lang, other = lang === "ja" ? "en" : "ja";
  var L = config.labels[lang], L2 = config.labels[other];
  var STORE = "oflocal.booth.pending";

  var clockSkew = Date.parse(config.server_now) - Date.now();
  var denominations = {};
  config.programmes.forEach(function (p) { denominations[p.id] = p.denominations; });

  var input = $("code");
  var multi = false;
  var queue = [];          // [{code, amount}] waiting for "Accept all"
  var pending = null;      // {kind: "redeem"|"undo", key, codes | redemptionId}
  var busy = false;
  var lastLive = null;     // the latest redemption that may still be undone
  var audio = null;

  /* ---------- small helpers ---------- */

  function serverNow() { return Date.now() + clockSkew; }

  /* The face value a ticket will have: its place in the booklet (see vouchers/issue.py).
   * Only for the running sum on screen; the server's answer is what counts. */
  function amountOf(parsed) {
    var d = denominations[parsed.programmeId];
    if (!d || !d.length) return null;
    return d[(parsed.serial - 1) % d.length];
  }

  function both(key) { return { primary: L[key], secondary: L2[key] }; }

  function ticketsText(labels, n) { return n === 1 ? labels.ticket_one : O.fill(labels.tickets, { n: n }); }

  function beep(ok) {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      audio = audio || new Ctx();
      var tones = ok ? [[880, 0, 0.12]] : [[220, 0, 0.18], [220, 0.25, 0.18]];
      tones.forEach(function (t) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = t[0];
        gain.gain.value = 0.15;
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(audio.currentTime + t[1]);
        osc.stop(audio.currentTime + t[1] + t[2]);
      });
    } catch (e) { /* sound is a nicety */ }
    if (!ok && navigator.vibrate) navigator.vibrate([200, 100, 200]);
  }

  function savePending() {
    try {
      if (pending) sessionStorage.setItem(STORE, JSON.stringify(pending));
      else sessionStorage.removeItem(STORE);
    } catch (e) { /* private mode: retry still works while the page is open */ }
  }

  /* ---------- the big answer ---------- */

  var answer = $("answer");

  function showAnswer(kind, opts) {
    answer.className = "answer answer-" + kind;
    O.setText($("answer-mark"), kind === "ok" ? "✓" : kind === "ng" ? "✕" : kind === "net" ? "!" : "…");
    O.setText($("answer-title"), opts.title || "");
    O.setText($("answer-amount"), opts.amount || "");
    O.setText($("answer-primary"), opts.primary || "");
    O.setText($("answer-secondary"), opts.secondary || "");
    $("answer-retry").hidden = kind !== "net";
    $("answer-login").hidden = !opts.login;
    $("answer-next").hidden = kind === "wait";
    O.setText($("answer-next"), kind === "net" ? L.give_up : L.next);
    var bar = document.querySelector(".topbar");
    answer.style.top = (bar ? bar.offsetHeight : 0) + "px";  // keep the workshop's name in view
    answer.hidden = false;
    if (kind === "ok" || kind === "ng") beep(kind === "ok");
    if (kind === "net") $("answer-retry").focus(); else input.focus();
  }

  function hideAnswer() {
    if (busy || answer.hidden) return;
    if (pending) return;  // the Retry question must be answered first
    answer.hidden = true;
    input.focus();
  }

  function refusalFromServer(result) {
    var texts = O.serverRefusal(config, result.body);
    var login = result.body && (result.body.code === "auth.required");
    return {
      title: L.ng_title + " / " + L2.ng_title,
      primary: texts ? texts.primary : String(result.status),
      secondary: texts ? texts.secondary : "",
      login: login
    };
  }

  function refuseHere(code, facts) {
    var texts = O.clientRefusal(config, code, facts);
    showAnswer("ng", { title: L.retype_title + " / " + L2.retype_title,
                       primary: texts.primary, secondary: texts.secondary });
  }

  /* ---------- entering codes ---------- */

  function entered(text) {
    if (!String(text).trim()) return;
    if (busy || pending) return;
    answer.hidden = true;
    var parsed = Codes.parse(text);
    var shown = String(text).slice(0, 40);
    if (!parsed.ok) return refuseHere("code." + parsed.reason, { code: shown });
    if (parsed.kind !== "T") return refuseHere("code.not_a_ticket", { code: shown });
    if (!multi) return redeem([parsed.code]);
    for (var i = 0; i < queue.length; i++) {
      if (queue[i].code === parsed.code) {
        return refuseHere("redemption.duplicate_code", { code: Codes.grouped(parsed.code) });
      }
    }
    if (queue.length >= config.max_codes) {
      return refuseHere("redemption.too_many", { limit: config.max_codes });
    }
    queue.push({ code: parsed.code, amount: amountOf(parsed) });
    renderQueue();
  }

  function setMulti(on) {
    multi = on;
    if (!on) queue = [];
    $("queue").hidden = !on;
    $("multi-btn").hidden = on;
    O.setText($("send"), on ? L.add : L.accept);
    $("send").className = on ? "btn secondary huge" : "btn ok huge";
    renderQueue();
    input.focus();
  }

  function queueSum() {
    var sum = 0, unknown = false;
    queue.forEach(function (t) { if (t.amount == null) unknown = true; else sum += t.amount; });
    return O.yen(sum) + (unknown ? " + ?" : "");
  }

  function renderQueue() {
    var list = $("queue-list");
    list.textContent = "";
    queue.forEach(function (t, index) {
      var li = document.createElement("li");
      var code = document.createElement("span");
      code.className = "line-code";
      code.textContent = Codes.grouped(t.code);
      var amount = document.createElement("span");
      amount.className = "line-price";
      amount.textContent = t.amount == null ? "?" : O.yen(t.amount);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn plain small";
      remove.textContent = L.remove;
      remove.addEventListener("click", function () { queue.splice(index, 1); renderQueue(); input.focus(); });
      li.appendChild(code);
      li.appendChild(amount);
      li.appendChild(remove);
      list.appendChild(li);
    });
    O.setText($("queue-count"), ticketsText(L, queue.length));
    O.setText($("queue-sum"), queueSum());
    O.setText($("accept-sum"), queue.length ? queueSum() : "");
    $("accept").disabled = queue.length === 0 || busy;
  }

  /* ---------- talking to the server ---------- */

  function redeem(codes) {
    pending = { kind: "redeem", key: O.newKey(), codes: codes };
    savePending();
    send();
  }

  function send() {
    if (!pending || busy) return;
    busy = true;
    var attempt = pending;
    showAnswer("wait", { title: L.checking, secondary: L2.checking });
    var request = attempt.kind === "undo"
      ? O.postJSON("/api/v1/redemptions/" + attempt.redemptionId + "/undo", {}, attempt.key)
      : O.postJSON("/api/v1/redemptions", { codes: attempt.codes }, attempt.key);
    request.then(function (result) {
      busy = false;
      if (result.status >= 500 || result.status === 0 || !result.body) return noAnswer();
      pending = null;
      savePending();
      if (result.status >= 200 && result.status < 300) {
        if (attempt.kind === "undo") {
          Kept.undone(result.body.redemption_id);
          undone(result.body);
        } else {
          Kept.accepted(attempt, result.body);  // kept on the phone too (kept.js)
          accepted(result.body);
        }
      } else {
        showAnswer("ng", refusalFromServer(result));
        if (attempt.kind === "redeem" && multi && result.body && result.body.detail) {
          markInQueue(result.body.detail.code);
        }
      }
      refreshToday();
    }, function () {
      busy = false;
      noAnswer();
    });
  }

  function noAnswer() {
    var texts = both(pending && pending.restored ? "pending" : "network");
    showAnswer("net", { title: "", primary: texts.primary, secondary: texts.secondary });
  }

  function accepted(body) {
    var n = body.tickets.length;
    showAnswer("ok", {
      title: L.ok_title + " / " + L2.ok_title,
      amount: O.yen(body.total),
      primary: ticketsText(L, n),
      secondary: ticketsText(L2, n)
    });
    if (multi) setMulti(false);
  }

  function undone(body) {
    showAnswer("undo", {
      title: L.undone + " / " + L2.undone,
      amount: O.yen(body.total),
      primary: L.give_back,
      secondary: L2.give_back
    });
  }

  function markInQueue(code) {
    if (!code) return;
    var items = $("queue-list").children;
    for (var i = 0; i < queue.length; i++) {
      if (queue[i].code === code && items[i]) items[i].className = "bad";
    }
  }

  /* ---------- today's list and undo ---------- */

  var TODAY_LIMIT = 200;

  function refreshToday() {
    return O.getJSON("/api/v1/redemptions/today?limit=" + TODAY_LIMIT).then(function (summary) {
      renderToday(summary);
      Kept.compare(summary, TODAY_LIMIT);  // what this phone took that the server lacks
    }, function () {});
  }

  function renderToday(summary) {
    O.setText($("today-total"), O.yen(summary.total));
    O.setText($("today-count"), ticketsText(L, summary.count));
    var groups = [], byId = {};
    summary.lines.forEach(function (line) {
      var g = byId[line.redemption_id];
      if (!g) {
        g = byId[line.redemption_id] = { id: line.redemption_id, at: line.redeemed_at,
                                         amount: 0, count: 0, undone: line.undone };
        groups.push(g);
      }
      g.amount += line.amount;
      g.count += 1;
    });
    var list = $("today-list");
    list.textContent = "";
    if (!groups.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = L.today_empty;
      list.appendChild(empty);
    }
    groups.slice(0, 30).forEach(function (g) {
      var li = document.createElement("li");
      if (g.undone) li.className = "undone";
      var time = document.createElement("span");
      time.className = "t";
      time.textContent = O.tokyoTime(g.at);
      var what = document.createElement("span");
      what.className = "n";
      what.textContent = ticketsText(L, g.count) + (g.undone ? " (" + L.undone_line + ")" : "");
      var amount = document.createElement("span");
      amount.className = "a";
      amount.textContent = O.yen(g.amount);
      li.appendChild(time);
      li.appendChild(what);
      li.appendChild(amount);
      list.appendChild(li);
    });
    lastLive = null;
    for (var i = 0; i < groups.length; i++) {
      if (!groups[i].undone) { lastLive = groups[i]; break; }
    }
    renderUndo();
  }

  function renderUndo() {
    var button = $("undo-btn");
    var open = lastLive &&
      serverNow() - Date.parse(lastLive.at) < config.undo_window_seconds * 1000 - 5000;
    button.hidden = !open;
    if (open) O.setText(button, L.undo_last + " (" + O.yen(lastLive.amount) + ", " + O.tokyoTime(lastLive.at) + ")");
  }

  function askUndo() {
    if (!lastLive || busy || pending) return;
    var g = lastLive;
    O.setText($("confirm-text"), L.undo_question + " " + O.yen(g.amount) + " · " + ticketsText(L, g.count) + " · " + O.tokyoTime(g.at));
    O.setText($("confirm-text-2"), L2.undo_question);
    $("confirm").hidden = false;
    $("confirm").dataset.redemption = String(g.id);
    $("confirm-no").focus();
  }

  /* ---------- camera (only where the browser can read QR codes itself) ---------- */

  var stream = null, scanning = false, lastSeen = { code: "", at: 0 };

  function setupCamera() {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    var check = window.BarcodeDetector.getSupportedFormats
      ? window.BarcodeDetector.getSupportedFormats() : Promise.resolve(["qr_code"]);
    check.then(function (formats) {
      if (formats.indexOf("qr_code") >= 0) $("camera-btn").hidden = false;
    }, function () {});
  }

  function openCamera() {
    var video = $("camera-video");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        $("camera").hidden = false;
        return video.play();
      })
      .then(function () {
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        scanning = true;
        var tick = function () {
          if (!scanning) return;
          detector.detect(video).then(function (codes) {
            if (codes.length && scanning) {
              var value = codes[0].rawValue, now = Date.now();
              if (value !== lastSeen.code || now - lastSeen.at > 3000) {
                lastSeen = { code: value, at: now };
                if (!multi) closeCamera();
                entered(value);
              }
            }
            setTimeout(tick, 200);
          }, function () { setTimeout(tick, 400); });
        };
        tick();
      })
      .catch(function () {
        closeCamera();
        showAnswer("ng", { title: "", primary: L.camera_error, secondary: L2.camera_error });
      });
  }

  function closeCamera() {
    scanning = false;
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    $("camera").hidden = true;
    input.focus();
  }

  /* ---------- wiring ---------- */

  $("scan-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy || pending) return;  // keep what was typed until the open question is answered
    var text = input.value;
    input.value = "";
    entered(text);
  });
  input.addEventListener("input", function () {
    if (!answer.hidden && !busy && !pending) answer.hidden = true;
  });
  $("answer-next").addEventListener("click", function () {
    if (pending && !busy) {  // giving up on an unanswered attempt
      pending = null;
      savePending();
      refreshToday();
    }
    hideAnswer();
  });
  $("answer-retry").addEventListener("click", send);
  $("multi-btn").addEventListener("click", function () { setMulti(true); });
  $("queue-cancel").addEventListener("click", function () { setMulti(false); });
  $("accept").addEventListener("click", function () {
    if (queue.length && !busy && !pending) redeem(queue.map(function (t) { return t.code; }));
  });
  $("undo-btn").addEventListener("click", askUndo);
  $("confirm-no").addEventListener("click", function () { $("confirm").hidden = true; input.focus(); });
  $("confirm-yes").addEventListener("click", function () {
    $("confirm").hidden = true;
    pending = { kind: "undo", key: O.newKey(), redemptionId: Number($("confirm").dataset.redemption) };
    savePending();
    send();
  });
  $("camera-btn").addEventListener("click", openCamera);
  $("camera-close").addEventListener("click", closeCamera);

  /* Keep the screen on while the booth page is open (HTTPS only; elsewhere a no-op). */
  function keepAwake() {
    if (navigator.wakeLock && document.visibilityState === "visible") {
      navigator.wakeLock.request("screen").catch(function () {});
    }
  }
  document.addEventListener("visibilitychange", keepAwake);

  Kept.onResent(refreshToday);
  setMulti(false);
  keepAwake();
  setupCamera();
  refreshToday();
  setInterval(renderUndo, 15000);
  setInterval(refreshToday, 120000);

  try {
    var saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
    if (saved && saved.key) {
      pending = saved;
      pending.restored = true;
      noAnswer();
    }
  } catch (e) { /* nothing saved */ }
})();
