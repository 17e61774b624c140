// Keyboard shortcuts of the review dashboard. Every action is an ordinary form or link, so the
// pages work without this script; it only adds keys and block-to-block navigation.
(function () {
  "use strict";

  function blocks() { return Array.from(document.querySelectorAll("[data-block]")); }

  function currentIndex(list) {
    const active = document.activeElement;
    return list.findIndex(function (block) { return block === active || block.contains(active); });
  }

  function focusBlock(offset) {
    const list = blocks();
    if (!list.length) { return; }
    const index = currentIndex(list);
    const next = index < 0 ? (offset > 0 ? 0 : list.length - 1)
      : Math.min(list.length - 1, Math.max(0, index + offset));
    list[next].focus();
    list[next].scrollIntoView({ block: "start" });
  }

  function submit(id) {
    const form = document.getElementById(id);
    if (form) { form.requestSubmit(); }
  }

  // Edit forms are fetched when wanted (each carries a copy of its block's text); without
  // this script the link opens the form as a page of its own.
  function openEditor(container) {
    const slot = container.querySelector("[data-edit-slot]");
    const link = container.querySelector("[data-edit-link]");
    const loaded = slot.querySelector("textarea");
    if (loaded) { loaded.focus(); return; }
    const url = new URL(link.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (html) {
      slot.innerHTML = html;  // the server's own escaped template: a form and its fields
      link.hidden = true;
      slot.querySelector("textarea").focus();
    }).catch(function () { window.location.href = link.href; });
  }

  function editCurrent() {
    const list = blocks();
    const index = currentIndex(list);
    const candidates = index < 0 ? list : list.slice(index).concat(list.slice(0, index));
    const target = candidates.find(function (block) { return block.querySelector("[data-edit]"); });
    if (target) { openEditor(target.querySelector("[data-edit]")); }
  }

  document.addEventListener("click", function (event) {
    const link = event.target instanceof Element && event.target.closest("[data-edit-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    event.preventDefault();
    openEditor(link.closest("[data-edit]"));
  });

  function toggleHelp() {
    const help = document.getElementById("help");
    if (!help) { return; }
    if (help.open) { help.close(); } else { help.showModal(); }
  }

  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) { return; }
    const help = document.getElementById("help");
    if (help && help.open && event.key !== "?") { return; }
    const actions = {
      "?": toggleHelp,
      "j": function () { focusBlock(1); },
      "k": function () { focusBlock(-1); },
      "a": function () { submit("accept-form"); },
      "d": function () {
        const draft = document.querySelector("#reject-form button[value=draft]");
        if (draft) { draft.click(); }
      },
      "r": function () {
        const reason = document.getElementById("reason");
        if (reason) { reason.focus(); reason.scrollIntoView({ block: "center" }); }
      },
      "e": editCurrent,
      "x": function () { submit("release-form"); },
      "n": function () {
        if (document.getElementById("next-form")) { submit("next-form"); } else {
          const start = document.getElementById("start-review");
          if (start) { start.click(); }
        }
      },
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
}());
