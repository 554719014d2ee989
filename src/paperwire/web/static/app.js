// Progressive enhancement: everything works without this file.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("pw-theme"); } catch (e) {}
  if (saved) root.setAttribute("data-theme", saved);

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      var dark = root.getAttribute("data-theme") === "dark" ||
        (!root.getAttribute("data-theme") && matchMedia("(prefers-color-scheme: dark)").matches);
      var next = dark ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("pw-theme", next); } catch (e) {}
    });
  });

  // A toggle form (upvote, reaction) sent in place: the JSON answer updates the button.
  function toggleInPlace(form, what, apply) {
    var button = form.querySelector("button");
    var state = form.querySelector('input[name="state"]');
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf() },
      credentials: "same-origin"
    }).then(function (r) {
      if (r.status === 401) { window.location = "/signin?next=" + encodeURIComponent(location.pathname); return null; }
      return r.json().then(function (data) { if (!r.ok) throw new Error(data.error || r.status); return data; });
    }).then(function (data) {
      if (!data) return;
      var on = apply(data);
      button.classList.toggle("on", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
      state.value = on ? "0" : "1";
    }).catch(function (err) {
      button.title = what + " failed: " + err.message;
    }).finally(function () { button.disabled = false; });
  }

  // Upvotes and comment reactions without reloading the page.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.matches("[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      ev.preventDefault();
      return;
    }
    if (form.classList.contains("upvote-form")) {
      ev.preventDefault();
      toggleInPlace(form, "Upvote", function (data) {
        form.querySelector(".count").textContent = data.upvotes;
        return data.upvoted;
      });
    } else if (form.classList.contains("reaction-form")) {
      ev.preventDefault();
      toggleInPlace(form, "Reaction", function (data) {
        form.querySelector(".count").textContent = data.count;
        // A reaction given from the menu moves next to the others.
        var menu = form.closest(".add-reaction");
        if (menu && data.reacted) {
          menu.parentNode.insertBefore(form, menu);
          menu.open = false;
          if (!menu.querySelector("form")) menu.remove();
          form.querySelector("button").focus();
        }
        return data.reacted;
      });
    }
  });

  // Say at once that a picture is too large, rather than after sending it.
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var file = input.files && input.files[0];
    input.setCustomValidity(file && file.size > max ?
      "This image is larger than " + Math.round(max / 1024) + " KB." : "");
    input.reportValidity();
  });

  // "More papers" appends the next page in place.
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest("a[data-more]");
    if (!link) return;
    ev.preventDefault();
    var url = link.href + (link.href.indexOf("?") < 0 ? "?" : "&") + "fragment=1";
    link.textContent = "Loading…";
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var holder = link.closest(".more");
      var tpl = document.createElement("template");
      tpl.innerHTML = html;
      holder.replaceWith(tpl.content);
    }).catch(function () { window.location = link.href; });
  });
  // Subscription forms: start from the browser's own time zone.
  document.querySelectorAll("input[data-detect-timezone]").forEach(function (input) {
    try {
      var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz && (!input.value || input.value === "UTC")) input.value = tz;
    } catch (e) { /* keep UTC */ }
  });
})();
