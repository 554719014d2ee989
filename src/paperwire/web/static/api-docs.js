// Starts Swagger UI on /api/docs. A file of its own because the site's CSP runs no inline
// script; swagger-ui-bundle.js (deferred before this one) defines SwaggerUIBundle.
(function () {
  "use strict";
  var root = document.documentElement;
  var darkQuery = matchMedia("(prefers-color-scheme: dark)");

  // Swagger UI's own dark theme follows the site's: the saved choice, else the system's.
  function syncTheme() {
    var chosen = root.getAttribute("data-theme");
    root.classList.toggle("dark-mode", chosen ? chosen === "dark" : darkQuery.matches);
  }
  syncTheme();
  new MutationObserver(syncTheme).observe(root, { attributes: true, attributeFilter: ["data-theme"] });
  darkQuery.addEventListener("change", syncTheme);

  // Swagger UI leaves some controls without a name (an enum parameter's select, the copy
  // buttons) and code blocks that scroll out of keyboard reach: fix each as Swagger draws it.
  function unnamed(el) {
    if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")) return false;
    return el.tagName === "BUTTON" ? !el.textContent.trim() : !(el.labels && el.labels.length);
  }
  function fixControls(holder) {
    holder.querySelectorAll("tr[data-param-name] :is(select, input, textarea)").forEach(function (el) {
      if (unnamed(el)) el.setAttribute("aria-label", el.closest("tr").getAttribute("data-param-name"));
    });
    holder.querySelectorAll(".copy-to-clipboard button").forEach(function (el) {
      if (unnamed(el)) el.setAttribute("aria-label", "Copy to clipboard");
    });
    holder.querySelectorAll("pre:not([tabindex])").forEach(function (el) {
      el.setAttribute("tabindex", "0");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("swagger-ui");
    if (!holder || !window.SwaggerUIBundle) return;
    new MutationObserver(function () { fixControls(holder); })
      .observe(holder, { childList: true, subtree: true });
    window.SwaggerUIBundle({
      url: holder.getAttribute("data-openapi"),
      domNode: holder,
      // Deep links put a link inside each operation's toggle button (nested controls).
      deepLinking: false,
      // The default posts the document to a public validator: no request leaves the site.
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      defaultModelsExpandDepth: 0,
      tryItOutEnabled: false
    });
  });
})();
