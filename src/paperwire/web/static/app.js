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
    // Back at a place in the page after a form (a saved note, a moved item, a comment):
    // the keyboard starts there too, not at the top.
    var target = location.hash.length > 1 && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target !== document.getElementById("main")) {
      if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
      target.focus({ preventScroll: true });
    }
    // On a phone, search filters nobody set start folded: the results come first.
    if (matchMedia("(max-width: 600px)").matches) {
      document.querySelectorAll("details[data-close-narrow]").forEach(function (d) { d.open = false; });
    }
    var toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      var dark = root.getAttribute("data-theme") === "dark" ||
        (!root.getAttribute("data-theme") && matchMedia("(prefers-color-scheme: dark)").matches);
      var next = dark ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("pw-theme", next); } catch (e) {}
    });
  });

  // A form sent in place (``fields`` override its own): the JSON answer, or an error.
  function send(form, fields) {
    var body = new FormData(form);
    Object.keys(fields || {}).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(form.action, {
      method: "POST",
      body: body,
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf() },
      credentials: "same-origin"
    }).then(function (r) {
      if (r.status === 401) {
        // Signed out meanwhile: sign in (the answer may say where: an upvote is applied then).
        return r.json().catch(function () { return {}; }).then(function (data) {
          window.location = data.signin || "/signin?next=" + encodeURIComponent(location.pathname + location.search);
          return new Promise(function () {});
        });
      }
      return r.json().then(function (data) { if (!r.ok) throw new Error(data.error || r.status); return data; });
    });
  }

  // A toggle form (upvote, reaction) sent in place: the JSON answer updates the button.
  // A form sent in place ignores presses until it has its answer. Not by disabling its
  // button: a disabled button loses the keyboard focus, which falls back to the page's top.
  function claim(form) {
    if (form.hasAttribute("data-busy")) return false;
    form.setAttribute("data-busy", "");
    form.querySelector("button").setAttribute("aria-disabled", "true");
    return true;
  }

  function release(form) {
    form.removeAttribute("data-busy");
    form.querySelector("button").removeAttribute("aria-disabled");
  }

  function toggleInPlace(form, what, apply) {
    var button = form.querySelector("button");
    var state = form.querySelector('input[name="state"]');
    if (!claim(form)) return;
    send(form).then(function (data) {
      var on = apply(data);
      button.classList.toggle("on", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
      state.value = on ? "0" : "1";
    }).catch(function (err) {
      button.title = what + " failed: " + err.message;
    }).finally(function () { release(form); });
  }

  function element(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text) el.textContent = text;
    return el;
  }

  // The title of the card holding ``el``, as text (for notes and accessible names).
  function titleOf(el) {
    return el.closest(".card").querySelector(".title").textContent.trim();
  }

  // The page's count of papers ("29 papers · 1 hidden by you") after hiding or showing one.
  function recount(delta) {
    var shown = document.querySelector("[data-shown]");
    var hidden = document.querySelector("[data-hidden]");
    if (shown) {
      var n = parseInt(shown.getAttribute("data-shown"), 10) + delta;
      shown.setAttribute("data-shown", n);
      shown.textContent = n + (n === 1 ? " paper" : " papers");
    }
    if (hidden) {
      var h = parseInt(hidden.getAttribute("data-hidden"), 10) - delta;
      hidden.setAttribute("data-hidden", h);
      hidden.textContent = h + " hidden by you";
      hidden.parentNode.hidden = h <= 0;
    }
  }

  // "Not interested" on a card: the card gives way to a note with an undo, in place (the
  // page keeps its scroll position and the focus stays on the note).
  function dismissInPlace(form) {
    var card = form.closest(".card");
    var button = form.querySelector("button");
    var title = titleOf(card);
    if (!claim(form)) return;
    send(form).then(function () {
      var note = element("div", "dismissed-note");
      var said = element("p", "", "Hidden “" + title + "” from your feeds.");
      var undo = element("button", "button small", "Undo");
      var all = element("a", "", "All the papers you hid");
      note.setAttribute("role", "status");
      undo.type = "button";
      all.href = "/settings/hidden-papers";
      note.append(said, undo, all);
      card.hidden = true;
      card.parentNode.insertBefore(note, card);
      recount(-1);
      undo.focus();
      undo.addEventListener("click", function () {
        undo.disabled = true;
        send(form, { state: "0" }).then(function () {
          note.remove();
          card.hidden = false;
          recount(1);
          button.focus();
        }).catch(function (err) {
          said.textContent = "Undo failed: " + err.message;
          undo.disabled = false;
        });
      });
    }).catch(function (err) {
      button.title = "Not interested failed: " + err.message;
    }).finally(function () { release(form); });
  }

  // One-click "Save" on a card: the star turns to "Saved" (which opens the collections)
  // and a note says where, with an undo, in place.
  function saveInPlace(form) {
    var actions = form.closest(".card-actions");
    var picker = actions.querySelector("form.picker-form button");
    var button = form.querySelector("button");
    var pid = form.action.split("/papers/")[1].replace(/\/save$/, "");
    var before = picker.innerHTML;
    if (!claim(form)) return;
    send(form).then(function (data) {
      var note = element("span", "saved-note");
      var where = element("a", "", data.name);
      note.setAttribute("role", "status");
      where.href = "/collections/" + data.collection;
      // a public collection shows on the profile: the reader should know where it went
      note.append(data.added ? "Saved to " : "Already in ", where,
        data.visibility === "public" ? ", a public collection." : ".");
      picker.innerHTML = "";
      picker.append(button.querySelector("svg").cloneNode(true), " Saved");
      var label = element("span", "sr-only", " in your collections, " + titleOf(actions) + ": change which");
      picker.append(label);
      picker.classList.add("save", "on");
      form.hidden = true;
      actions.append(note);
      picker.focus();  // the pressed button is hidden: the keyboard goes on from its place
      if (!data.added) return;
      var undo = element("button", "link", "Undo");
      undo.type = "button";
      note.append(" ", undo);
      undo.addEventListener("click", function () {
        var remove = document.createElement("form");
        remove.action = "/collections/" + data.collection + "/items/remove";
        undo.disabled = true;
        send(remove, { paper_id: pid, csrf_token: csrf() }).then(function () {
          note.remove();
          picker.innerHTML = before;
          picker.classList.remove("save", "on");
          form.hidden = false;
          button.focus();
        }).catch(function (err) {
          note.textContent = "Undo failed: " + err.message;
        });
      });
    }).catch(function (err) {
      button.title = "Save failed: " + err.message;
    }).finally(function () { release(form); });
  }

  // Upvotes and comment reactions without reloading the page.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    // A filter form leaves its unused fields out of the address: /papers?q=x&category=cs.CV,
    // not ...&from=&to=&author=&category=cs.CV.
    if (form.hasAttribute("data-drop-empty") && window.URLSearchParams) {
      ev.preventDefault();
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (String(value).trim() !== "") params.append(name, value);
      });
      var query = params.toString();
      window.location.assign(form.action + (query ? "?" + query : ""));
      return;
    }
    if (form.matches("[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      ev.preventDefault();
      return;
    }
    // Signed out (no token): the form goes to the server, which sends to sign-in (and an
    // upvote is applied once signed in).
    if (!csrf()) return;
    if (form.classList.contains("upvote-form")) {
      ev.preventDefault();
      toggleInPlace(form, "Upvote", function (data) {
        form.querySelector(".count").textContent = data.upvotes;
        return data.upvoted;
      });
    } else if (form.classList.contains("dismiss-form")) {
      ev.preventDefault();
      dismissInPlace(form);
    } else if (form.classList.contains("save-form") && form.closest(".card-actions")) {
      ev.preventDefault();
      saveInPlace(form);
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
      // The keyboard goes on from the first new card, not from the top of the page.
      var first = tpl.content.querySelector(".card .title a");
      holder.replaceWith(tpl.content);
      if (first) first.focus();
      // The address follows: a reload, a shared link or a return from a paper opens the
      // page reached (with a link back to the ones before it), not the first page again.
      if (window.history && history.replaceState) history.replaceState(history.state, "", link.href);
    }).catch(function () { window.location = link.href; });
  });
  // A comment's reaction menu closes with Escape (focus back on React, also from an emoji in
  // it) and with a click anywhere else.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    var open = document.querySelectorAll("details.add-reaction[open]");
    open.forEach(function (d) {
      var within = d.contains(document.activeElement);
      d.open = false;
      if (within) d.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (ev) {
    document.querySelectorAll("details.add-reaction[open]").forEach(function (d) {
      if (!d.contains(ev.target)) d.open = false;
    });
  });

  // Escape closes the header's Menu (on a phone), back on its button.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    var menu = document.querySelector("details.menu[open]");
    if (!menu) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });

  // The subscribe form: typing a topic chooses "A topic alert" (else the topic would be
  // for nothing; without this script the server asks).
  var topic = document.getElementById("sub-query");
  var topicKind = topic && topic.form && topic.form.querySelector('input[name="kind"][value="topic"]');
  if (topicKind) topic.addEventListener("input", function () {
    if (topic.value.trim()) topicKind.checked = true;
  });

  // @mentions: "@" and the start of a name in a comment box lists the people it could name
  // under the box (the paper's discussion first, from /api/people/suggest). The WAI-ARIA
  // combobox pattern on the textarea (ARIA 1.2 gives a textarea neither the combobox role
  // nor aria-expanded: the list is there or not): ArrowDown and ArrowUp move, Enter or Tab
  // puts "@name " in place of what was typed, Escape closes; a click does too. Answers are
  // kept per prefix, and asked for after a pause in typing (150 ms).
  var MENTION_AT = /(^|[^\w@\/])@([A-Za-z0-9][A-Za-z0-9_-]{0,39})$/;
  var mentionAnswers = {};
  var mentionStatus = null;

  function mentionSay(text) {
    if (!mentionStatus) {
      mentionStatus = element("div", "sr-only");
      mentionStatus.setAttribute("role", "status");
      mentionStatus.id = "mention-status";
      document.body.append(mentionStatus);
    }
    mentionStatus.textContent = text;
  }

  function mentionPeople(paper, q) {
    var key = q.toLowerCase();
    if (!mentionAnswers[key]) {
      var url = "/api/people/suggest?" + new URLSearchParams({ q: q, paper: paper });
      mentionAnswers[key] = fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .catch(function (err) { delete mentionAnswers[key]; throw err; });
    }
    return mentionAnswers[key];
  }

  // Where the character at ``at`` of a textarea lies, from the box's padding edge: a hidden
  // copy of the box's text up to it, laid out with the box's own font, padding and width.
  var MIRRORED = ["boxSizing", "width", "borderTopWidth", "borderRightWidth", "borderBottomWidth",
    "borderLeftWidth", "borderStyle", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft",
    "fontFamily", "fontSize", "fontWeight", "fontStyle", "letterSpacing", "lineHeight",
    "textTransform", "wordSpacing", "tabSize"];

  function caretPlace(box, at) {
    var style = getComputedStyle(box);
    var mirror = element("div");
    MIRRORED.forEach(function (name) { mirror.style[name] = style[name]; });
    mirror.style.position = "absolute";
    mirror.style.visibility = "hidden";
    mirror.style.top = mirror.style.left = "0";
    mirror.style.whiteSpace = "pre-wrap";
    mirror.style.overflowWrap = "break-word";
    mirror.style.overflow = "hidden";
    mirror.textContent = box.value.slice(0, at);
    var mark = element("span", null, "@");
    mirror.append(mark);
    document.body.append(mirror);
    var place = { left: mark.offsetLeft, bottom: mark.offsetTop + mark.offsetHeight };
    mirror.remove();
    return place;
  }

  function mentionBox(box) {
    var form = box.form;
    var list = element("ul", "mention-list");
    var timer = null, asked = null, start = -1, active = -1, people = [];
    list.id = box.id + "-mentions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "People to mention");
    list.hidden = true;
    box.after(list);
    form.classList.add("mentions");
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", list.id);

    function close() {
      clearTimeout(timer);
      asked = null;
      if (list.hidden) return;
      list.hidden = true;
      list.textContent = "";
      active = -1;
      box.removeAttribute("aria-activedescendant");
    }

    function choose(i) {
      active = i;
      list.querySelectorAll('[role="option"]').forEach(function (item, j) {
        item.setAttribute("aria-selected", j === i ? "true" : "false");
        if (j === i) {
          box.setAttribute("aria-activedescendant", item.id);
          item.scrollIntoView({ block: "nearest" });
        }
      });
    }

    function insert(i) {
      var end = box.selectionStart;
      var text = "@" + people[i].name + " ";
      box.setRangeText(text, start, end, "end");
      close();
      box.focus();
    }

    function show(found) {
      people = found;
      list.textContent = "";
      if (!found.length) {
        close();
        mentionSay("No one found");
        return;
      }
      found.forEach(function (person, i) {
        var item = element("li");
        var avatar = element("img", "avatar");
        var name = element("span", "mention-name", person.name);
        item.id = list.id + "-" + i;
        item.setAttribute("role", "option");
        avatar.src = person.avatarUrl;
        avatar.alt = "";
        avatar.width = avatar.height = 20;
        item.append(avatar, name);
        if (person.fullname) item.append(" ", element("span", "sub", person.fullname));
        item.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
        item.addEventListener("click", function () { insert(i); });
        list.append(item);
      });
      // Under the "@" being typed (as far as the box shows it), within the form; on a
      // narrow screen the list takes the form's width under the box (style.css).
      var place = caretPlace(box, start);
      var below = box.offsetTop + box.clientTop + place.bottom - box.scrollTop + 2;
      list.style.top = Math.min(Math.max(below, box.offsetTop), box.offsetTop + box.offsetHeight + 2) + "px";
      list.style.left = "";
      list.hidden = false;
      if (!window.matchMedia("(max-width: 640px)").matches) {
        var left = box.offsetLeft + box.clientLeft + place.left - box.scrollLeft;
        list.style.left = Math.max(0, Math.min(left, form.clientWidth - list.offsetWidth)) + "px";
      }
      choose(0);
      mentionSay(found.length + (found.length === 1 ? " person" : " people") +
        ": arrows to choose, Enter to insert");
    }

    function look() {
      var before = box.value.slice(0, box.selectionStart);
      var m = box.selectionStart === box.selectionEnd && MENTION_AT.exec(before);
      if (!m) { close(); return; }
      var q = m[2];
      start = before.length - q.length - 1;
      if (q === asked) return;
      asked = q;
      clearTimeout(timer);
      timer = setTimeout(function () {
        mentionPeople(box.getAttribute("data-mention-paper"), q).then(function (found) {
          if (asked === q) show(found);
        }).catch(function () { close(); });
      }, 150);
    }

    box.addEventListener("input", look);
    box.addEventListener("click", look);
    box.addEventListener("blur", close);
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowLeft" || ev.key === "ArrowRight" || ev.key === "Home" || ev.key === "End") {
        setTimeout(look, 0);
        return;
      }
      if (list.hidden || ev.isComposing) return;
      var n = people.length;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        choose((active + (ev.key === "ArrowDown" ? 1 : n - 1)) % n);
      } else if ((ev.key === "Enter" || ev.key === "Tab") && !ev.shiftKey && active >= 0) {
        ev.preventDefault();
        insert(active);
      } else if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        close();
        mentionSay("");
      }
    });
  }

  if (csrf() && window.URLSearchParams) {
    document.querySelectorAll("textarea[data-mention-paper]").forEach(mentionBox);
  }

  // Subscription forms: start from the browser's own time zone.
  document.querySelectorAll("input[data-detect-timezone]").forEach(function (input) {
    try {
      var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz && (!input.value || input.value === "UTC")) input.value = tz;
    } catch (e) { /* keep UTC */ }
  });
})();
