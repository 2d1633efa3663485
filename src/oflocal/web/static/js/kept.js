/* What this phone accepted, kept on the phone itself (localStorage), for recovery.
 *
 * If the laptop that keeps the books is lost and the books come back from a backup,
 * the redemptions made after that backup are not on the server any more. The phone
 * still knows them: each accepted redemption is kept here (its codes, amount, time and
 * the Idempotency-Key it was sent with) for KEEP_DAYS days. The booth compares them
 * with the server's list of today and says how many are missing; "Send them again"
 * sends each with its original key, so one the server still knows is only answered
 * again, and one it lost is taken again (or refused, e.g. when the ticket was used
 * elsewhere since: the refusal is shown and kept). "Download (CSV)" gives the whole
 * list to the committee. See docs/operations.md.
 *
 * localStorage belongs to the page's address: the replacement laptop must answer at the
 * same address (docs/operations.md), or the list is only readable where it was made.
 */
(function () {
  "use strict";
  var O = window.Oflocal, Codes = window.OflocalCodes, $ = O.$;
  var KEEP_DAYS = 7, MAX_ENTRIES = 2000;
  var config = O.pageConfig();
  var L = config.labels[config.lang], L2 = config.labels[config.lang === "ja" ? "en" : "ja"];
  var STORE = "oflocal.booth.kept." + config.workshop_id;
  var dayFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Asia/Tokyo", year: "numeric", month: "2-digit", day: "2-digit"
  });
  var missing = [];        // entries the server's list of today does not have
  var sending = false;
  var afterResend = function () {};

  function tokyoDay(iso) { return dayFormat.format(new Date(iso)); }

  function load() {
    try {
      var list = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(list) ? list : [];
    } catch (e) { return []; }
  }

  function save(list) {
    var oldest = Date.now() - KEEP_DAYS * 86400000;
    list = list.filter(function (e) { return Date.parse(e.at) >= oldest; }).slice(0, MAX_ENTRIES);
    try { localStorage.setItem(STORE, JSON.stringify(list)); } catch (e) { /* full or private */ }
    return list;
  }

  /* An accepted redemption (a fresh one, or the answer again to a retry). */
  function accepted(attempt, body) {
    var list = load();
    for (var i = 0; i < list.length; i++) {
      if (list[i].key === attempt.key) return render();
    }
    list.unshift({
      at: body.redeemed_at, key: attempt.key, id: body.redemption_id,
      codes: body.tickets.map(function (t) { return t.code; }),
      total: body.total, undone: false
    });
    save(list);
    render();
  }

  function undone(redemptionId) {
    var list = load();
    list.forEach(function (e) { if (e.id === redemptionId) e.undone = true; });
    save(list);
    render();
  }

  /* Compare with GET /api/v1/redemptions/today?limit=N. Only what the answer covers is
   * compared: today's entries, all of them when the list was not cut at the limit, else
   * those newer than its oldest line. */
  function compare(summary, limit) {
    var onServer = {}, oldest = null;
    summary.lines.forEach(function (line) {
      onServer[line.ticket_code] = true;
      if (oldest === null || Date.parse(line.redeemed_at) < oldest) oldest = Date.parse(line.redeemed_at);
    });
    var complete = summary.lines.length < limit;
    missing = load().filter(function (e) {
      if (e.undone || tokyoDay(e.at) !== summary.date) return false;
      if (!complete && (oldest === null || Date.parse(e.at) < oldest)) return false;
      return e.codes.some(function (code) { return !onServer[code]; });
    });
    render();
  }

  function isMissing(entry) {
    for (var i = 0; i < missing.length; i++) if (missing[i].key === entry.key) return true;
    return false;
  }

  function render() {
    var list = load();
    O.setText($("kept-count"), "(" + list.length + ")");
    var waiting = missing.filter(function (e) { return !e.refused; });
    var box = $("kept-missing");
    box.hidden = waiting.length === 0;
    O.setText($("kept-missing-text"), O.fill(L.kept_missing, { n: waiting.length }) + " / " +
              O.fill(L2.kept_missing, { n: waiting.length }));
    $("kept-resend").disabled = sending;
    var ol = $("kept-list");
    ol.textContent = "";
    if (!list.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = L.kept_empty;
      ol.appendChild(empty);
    }
    list.slice(0, 300).forEach(function (e) {
      var li = document.createElement("li");
      var lost = isMissing(e);
      if (e.undone) li.className = "undone";
      else if (lost) li.className = "missing";
      var head = document.createElement("span");
      head.className = "t";
      head.textContent = tokyoDay(e.at).slice(5).replace("-", "/") + " " + O.tokyoTime(e.at);
      var amount = document.createElement("span");
      amount.className = "a";
      amount.textContent = O.yen(e.total);
      var codes = document.createElement("span");
      codes.className = "codes";
      codes.textContent = e.codes.map(Codes.grouped).join(" ");
      li.appendChild(head);
      li.appendChild(amount);
      li.appendChild(codes);
      var note = e.undone ? L.undone_line : e.refused ? e.refused.primary
        : lost ? L.kept_not_on_server : e.resent ? L.kept_resent : "";
      if (note) {
        var mark = document.createElement("span");
        mark.className = "state";
        mark.textContent = note;
        li.appendChild(mark);
      }
      ol.appendChild(li);
    });
  }

  function update(key, change) {
    var list = load();
    list.forEach(function (e) { if (e.key === key) change(e); });
    save(list);
  }

  /* Each missing entry again, with the key it was first sent with, one at a time. */
  function resend() {
    if (sending) return;
    var queue = missing.filter(function (e) { return !e.refused; });
    if (!queue.length) return;
    sending = true;
    render();
    var next = function () {
      var entry = queue.shift();
      if (!entry) {
        sending = false;
        afterResend();
        return;
      }
      O.postJSON("/api/v1/redemptions", { codes: entry.codes }, entry.key).then(function (result) {
        if (result.status >= 200 && result.status < 300 && result.body) {
          update(entry.key, function (e) { e.resent = true; e.id = result.body.redemption_id; });
        } else if (result.status >= 400 && result.status < 500 && result.body) {
          var texts = O.serverRefusal(config, result.body) || { primary: String(result.status) };
          update(entry.key, function (e) { e.refused = { code: result.body.code, primary: texts.primary }; });
          entry.refused = true;
        } else {
          throw new Error("HTTP " + result.status);
        }
        next();
      }).catch(function () {
        sending = false;  // no answer: stop here; the button tries the rest again
        render();
      });
    };
    next();
  }

  function csvCell(value) {
    var text = String(value == null ? "" : value);
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function download() {
    var rows = [["time (Asia/Tokyo)", "workshop", "tickets", "amount", "codes", "state",
                 "redemption", "key"]];
    load().forEach(function (e) {
      var state = e.undone ? "undone" : e.refused ? "refused: " + e.refused.code
        : isMissing(e) ? "not on the server" : e.resent ? "sent again" : "accepted";
      rows.push([tokyoDay(e.at) + " " + O.tokyoTime(e.at), config.workshop, e.codes.length,
                 e.total, e.codes.map(Codes.grouped).join(" "), state, e.id, e.key]);
    });
    var text = "\ufeff" + rows.map(function (r) { return r.map(csvCell).join(","); }).join("\r\n") + "\r\n";
    var link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    link.download = "oflocal-" + config.workshop_id + "-kept-" + tokyoDay(new Date().toISOString()) + ".csv";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  $("kept-resend").addEventListener("click", resend);
  $("kept-download").addEventListener("click", download);

  window.OflocalKept = {
    accepted: accepted, undone: undone, compare: compare,
    onResent: function (callback) { afterResend = callback; }
  };
  save(load());  // drop what is older than KEEP_DAYS
  render();
})();
