/* The updates page: refresh each mailing's progress bar every 2 s while it is under
 * way (one request at a time per mailing); stops once every message is sent or failed. */
(function () {
  "use strict";
  function watch(box) {
    var bar = box.querySelector("progress"), label = box.querySelector(".mailing-text");
    var template = label.textContent;
    function show(p) {
      bar.value = p.percent;
      var total = p.recipients == null ? "…" : String(p.recipients);
      label.textContent = template.replace(/\d[\d,]*|…/g, "#")
        .replace("#", String(p.sent)).replace("#", String(p.failed)).replace("#", total);
      return p.all_queued && p.recipients != null && p.sent + p.failed >= p.recipients;
    }
    function poll() {
      fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) { if (!p || !show(p)) setTimeout(poll, 2000); })
        .catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  }
  document.querySelectorAll(".mailing[data-progress-url]").forEach(watch);
})();
