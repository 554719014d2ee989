// Reactions in place (the forms work without this file): one click gives or takes back a
// reaction and updates its count, without a reload.
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("reaction-form")) return;
    ev.preventDefault();
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
      button.querySelector(".count").textContent = data.count;
      button.classList.toggle("on", data.reacted);
      button.setAttribute("aria-pressed", data.reacted ? "true" : "false");
      state.value = data.reacted ? "0" : "1";
      // A reaction given from the menu moves next to the others.
      var menu = form.closest(".add-reaction");
      if (menu && data.reacted) {
        menu.parentNode.insertBefore(form, menu);
        menu.open = false;
        if (!menu.querySelector("form")) menu.remove();
        button.focus();
      }
    }).catch(function (err) {
      button.title = "Reaction failed: " + err.message;
    }).finally(function () { button.disabled = false; });
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
})();
