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

  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("swagger-ui");
    if (!holder || !window.SwaggerUIBundle) return;
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
