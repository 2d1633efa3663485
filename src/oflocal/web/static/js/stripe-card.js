/* The card step of a pledge's result page: Stripe's Payment Element on the PaymentIntent
 * the server made for the pledge (its client_secret is on the form). Loaded only when
 * the server uses Stripe's own API with a publishable key; js.stripe.com is loaded
 * before this file. The card never touches our server: Stripe.js confirms the payment,
 * 3-D Secure included, then comes back to this same page, which says "paid" once the
 * signed webhook has recorded it (the browser coming back proves nothing). */
(function () {
  "use strict";

  var form = document.getElementById("card-form");
  if (!form || typeof window.Stripe !== "function") return;
  var button = document.getElementById("card-pay");
  var errorBox = document.getElementById("card-error");
  var lang = form.getAttribute("data-lang") === "en" ? "en" : "ja";
  var stripe = window.Stripe(form.getAttribute("data-publishable-key"), { locale: lang });
  var elements = stripe.elements({ clientSecret: form.getAttribute("data-client-secret") });
  elements.create("payment", { layout: "tabs" }).mount("#payment-element");

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) return; // a double tap confirms once
    button.disabled = true;
    errorBox.hidden = true;
    // Back to this page (without Stripe's query string) after 3-D Secure or at once.
    var back = window.location.href.split("?")[0].split("#")[0];
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: back } })
      .then(function (result) {
        // Only reached when the payment could not be confirmed (declined, a typo...).
        if (result.error) showError(result.error.message || "");
      })
      .catch(function (e) { showError(String(e)); });
  });
})();
