// llmobs viewer: progressive enhancement only. Data from the store is put in the page with
// textContent and DOM nodes, never as HTML.
"use strict";
(function () {
  document.documentElement.classList.replace("no-js", "js");

  // Controls and bidi overrides show as escapes, as the server writes them (templating.py).
  var HIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function visible(text) {
    return String(text).replace(HIDDEN, function (c) {
      var code = c.charCodeAt(0);
      return code <= 0xff ? "\\x" + ("0" + code.toString(16)).slice(-2)
        : "\\u" + ("000" + code.toString(16)).slice(-4);
    });
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = visible(text);
    if (className) node.className = className;
    return node;
  }

  // -- list page: the custom time range, and live mode ----------------------------------------
  var range = document.getElementById("f-range");
  if (range) {
    var syncRange = function () {
      document.querySelectorAll(".custom-time").forEach(function (node) {
        node.classList.toggle("show", range.value === "custom");
      });
    };
    range.addEventListener("change", syncRange);
    syncRange();
  }

  var stateNode = document.getElementById("live-state");
  var body = document.getElementById("trace-rows");
  if (stateNode && body) startLive(JSON.parse(stateNode.textContent), body);

  function startLive(state, tbody) {
    var box = document.getElementById("live");
    var button = document.getElementById("live-toggle");
    var status = document.getElementById("live-status");
    var paused = false, added = 0, timer = null;
    box.hidden = false;
    button.addEventListener("click", function () {
      paused = !paused;
      button.textContent = paused ? "Resume live" : "Pause live";
      button.setAttribute("aria-pressed", String(paused));
      status.textContent = paused ? "paused" : "live: new traces appear here";
      if (!paused) poll();
    });
    function poll() {
      clearTimeout(timer);
      if (paused) return;
      var url = "/api/traces?" + (state.query ? state.query + "&" : "") + "after=" +
        encodeURIComponent(state.after);
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && !paused) {
            state.after = data.last_rowid;
            data.rows.forEach(function (row) { tbody.insertBefore(traceRow(row), tbody.firstChild); });
            added += data.rows.length;
            if (data.rows.length) {
              status.textContent = "live: " + added + " new";
              var none = document.getElementById("no-match");
              if (none) none.remove();
            }
          }
        })
        .catch(function () { status.textContent = "live: the viewer is not answering"; })
        .finally(function () { timer = setTimeout(poll, 2000); });
    }
    timer = setTimeout(poll, 2000);
  }

  function traceRow(row) {
    var tr = el("tr", null, "new" + (row.status === "error" ? " err" : ""));
    var link = el("a", row.root_name || "(no name)", "name");
    link.href = "/trace/" + encodeURIComponent(row.trace_id);
    var session = el("td");
    if (row.session_id) {
      var sessionLink = el("a", row.session_id);
      sessionLink.href = "/session/" + encodeURIComponent(row.session_id);
      session.appendChild(sessionLink);
    }
    var evals = el("td");
    var box = el("span", null, "evals");
    row.evaluations.forEach(function (e) {
      var label = e.label + ": " + e.value + (e.assessment ? " (" + e.assessment + ")" : "");
      var badge = el("span", label, "eval" + (e.failed ? " failed" : e.assessment === "pass" ? " passed" : ""));
      badge.title = e.reasoning;
      box.appendChild(badge);
    });
    evals.appendChild(box);
    var nameCell = el("td");
    nameCell.appendChild(link);
    [el("td", row.start), el("td", row.ml_app || ""), nameCell, el("td", row.root_kind || ""),
     el("td", row.span_count, "num"), el("td", row.duration_text, "num"),
     el("td", row.status, "status"), session, el("td", row.total_tokens || "", "num"), evals
    ].forEach(function (cell) { tr.appendChild(cell); });
    return tr;
  }

  // -- trace page: selecting spans, the Formatted / JSON toggle --------------------------------
  var tree = document.getElementById("tree");
  if (!tree) return;
  var rows = Array.prototype.slice.call(tree.querySelectorAll("tr.span-row"));

  function select(anchor) {
    var target = document.getElementById(anchor);
    if (!target) return;
    rows.forEach(function (row) { row.classList.toggle("selected", row.dataset.anchor === anchor); });
    document.querySelectorAll(".panel").forEach(function (panel) {
      panel.classList.toggle("selected", panel.id === anchor);
    });
  }
  window.addEventListener("hashchange", function () { select(location.hash.slice(1)); });
  if (location.hash) select(location.hash.slice(1));
  rows.forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a")) return;  // the link moves the hash itself
      location.hash = row.dataset.anchor;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea")) return;
    if (event.key !== "j" && event.key !== "k" && event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var current = rows.findIndex(function (row) { return row.classList.contains("selected"); });
    var step = (event.key === "j" || event.key === "ArrowDown") ? 1 : -1;
    var next = rows[Math.min(rows.length - 1, Math.max(0, current + step))];
    if (next) { location.hash = next.dataset.anchor; event.preventDefault(); }
  });
  document.querySelectorAll(".mode-switch button").forEach(function (button) {
    button.addEventListener("click", function () {
      var panel = button.closest(".panel");
      panel.dataset.mode = button.dataset.mode;
      panel.querySelectorAll(".mode-switch button").forEach(function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
    });
  });
})();
