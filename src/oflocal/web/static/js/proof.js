/* A programme's page: the proof follows the settings as they are typed. Every change
   asks the server for a fresh image (GET /admin/programmes/{id}/proof.png?…, nothing
   stored); a setting that cannot be printed shows the server's reason instead. */
(function () {
  "use strict";
  var O = window.Oflocal;
  var proof = document.getElementById("proof");
  if (!proof) return;
  var status = document.getElementById("proof-status");
  var failed = document.getElementById("proof-failed");
  var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-proof-source]"));
  var base = proof.getAttribute("data-proof-url");
  var lang = document.documentElement.lang === "en" ? "en" : "ja";
  var timer = null, wanted = proof.getAttribute("src");

  function query() {
    var params = new URLSearchParams();
    forms.forEach(function (form) {
      new FormData(form).forEach(function (value, name) {
        if (name !== "_csrf") params.append(name, value);
      });
    });
    return base + "?" + params.toString();
  }

  function refresh() {
    var url = query();
    if (url === wanted) return;
    wanted = url;
    status.hidden = false;
    proof.classList.add("stale");
    proof.src = url;
  }

  proof.addEventListener("load", function () {
    status.hidden = true;
    failed.hidden = true;
    proof.hidden = false;
    proof.classList.remove("stale");
  });
  proof.addEventListener("error", function () {
    var url = wanted;
    status.hidden = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (url !== wanted) return;
        var texts = O.serverRefusal({ lang: lang }, body);
        if (texts) { proof.hidden = true; O.showRefusal(failed, texts); }
      }, function () { /* the image stays as it was */ });
  });

  forms.forEach(function (form) {
    ["input", "change"].forEach(function (kind) {
      form.addEventListener(kind, function () {
        clearTimeout(timer);
        timer = setTimeout(refresh, 400);
      });
    });
  });
})();
