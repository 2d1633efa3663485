/* The admin console's workshop form: find a bank or a branch by name (「高岡」) and fill
   the codes. The server searches the zengin-code data (GET /admin/banks?q=…). */
(function () {
  "use strict";
  var search = document.getElementById("bank-search");
  var results = document.getElementById("bank-results");
  if (!search || !results) return;
  var form = search.form, timer = null, asked = "";

  function choose(choice) {
    form.elements.bank_code.value = choice.bank_code;
    if (choice.branch_code) form.elements.branch_code.value = choice.branch_code;
    results.textContent = "";
    search.value = choice.bank_name + (choice.branch_name ? " " + choice.branch_name : "");
    (choice.branch_code ? form.elements.account_number : form.elements.branch_code).focus();
  }

  function show(choices) {
    results.textContent = "";
    choices.forEach(function (choice) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = choice.bank_code + " " + choice.bank_name +
        (choice.branch_code ? "  " + choice.branch_code + " " + choice.branch_name : "");
      button.addEventListener("click", function () { choose(choice); });
      item.appendChild(button);
      results.appendChild(item);
    });
  }

  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = search.value.trim();
      if (q === asked) return;
      asked = q;
      if (!q) { results.textContent = ""; return; }
      window.Oflocal.getJSON("/admin/banks?q=" + encodeURIComponent(q)).then(function (found) {
        if (q === asked) show(found);
      }, function () { results.textContent = ""; });
    }, 250);
  });
})();
