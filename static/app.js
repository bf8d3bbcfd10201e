// rivulet dashboard: the live-refresh loop and its interval/pause control.
//
// Live fragments carry data-live and hx-get. One timer refreshes them all, and
// the next round is only scheduled once every request of this one has settled,
// so refreshes never overlap or pile up. Nothing refreshes while the tab is
// hidden, while paused, or while the person is typing inside a fragment.
//
// A refresh morphs the fragment (htmx's idiomorph extension) instead of
// replacing it: unchanged nodes stay, so a text selection, focus, typed text
// and the browser's scroll anchoring survive it. Relative times ("4 s ago")
// tick here from their data-ts, so they stay true while paused or while Redis
// is away. The 503 page reloads itself on the same interval, and not at all
// while paused.
(function () {
  "use strict";

  var STORE_INTERVAL = "rivulet.refreshSeconds";
  var STORE_PAUSED = "rivulet.paused";
  var MIN_SECONDS = 1;

  var control = document.getElementById("live-control");
  var select = document.getElementById("refresh-interval");
  var pauseButton = document.getElementById("refresh-pause");
  var status = document.getElementById("live-status");
  var timer = null;
  var running = false;
  // The login page renders no live control (and nothing live to refresh).
  if (!control || !select || !pauseButton) { return; }

  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }

  function seconds() {
    var fallback = parseFloat(document.body.getAttribute("data-refresh-seconds")) || 2;
    var chosen = parseFloat(stored(STORE_INTERVAL) || "") || fallback;
    return Math.max(MIN_SECONDS, chosen);
  }

  function paused() {
    return stored(STORE_PAUSED) === "1";
  }

  function liveElements() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live][hx-get]"));
  }

  function say(text, isError) {
    if (!status) { return; }
    status.textContent = text;
    status.classList.toggle("live-status-error", Boolean(isError));
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = null;
    if (running || paused() || document.hidden || liveElements().length === 0) { return; }
    timer = window.setTimeout(refresh, seconds() * 1000);
  }

  function refresh() {
    timer = null;
    if (paused() || document.hidden) { return; }
    var active = document.activeElement;
    var targets = liveElements().filter(function (el) {
      return !(active && active !== document.body && el.contains(active));
    });
    running = true;
    var requests = targets.map(function (el) {
      return htmx.ajax("GET", el.getAttribute("hx-get"), {
        source: el, target: el, swap: "morph:outerHTML"
      });
    });
    Promise.allSettled(requests).then(function () {
      running = false;
      schedule();
    });
  }

  function showControl() {
    var current = String(seconds());
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === current; });
    if (!known) {
      var option = document.createElement("option");
      option.value = current;
      option.textContent = "every " + current + " s";
      select.appendChild(option);
    }
    select.value = current;
    pauseButton.textContent = paused() ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", paused() ? "true" : "false");
    control.hidden = false;
  }

  select.addEventListener("change", function () {
    store(STORE_INTERVAL, select.value);
    schedule();
  });

  pauseButton.addEventListener("click", function () {
    store(STORE_PAUSED, paused() ? "0" : "1");
    showControl();
    say(paused() ? "paused" : "", false);
    schedule();
  });

  document.addEventListener("visibilitychange", schedule);

  // Pause and resume are shared by every tab: follow a change made in another.
  window.addEventListener("storage", function (event) {
    if (event.key !== STORE_PAUSED) { return; }
    showControl();
    say(paused() ? "paused" : "", false);
    schedule();
  });

  // A refresh that fails keeps the last good table and says why.
  document.body.addEventListener("htmx:responseError", function (event) {
    var code = event.detail.xhr ? event.detail.xhr.status : 0;
    say(code === 503 ? "Redis unreachable: showing older data, retrying"
                     : "refresh failed (HTTP " + code + "), retrying", true);
  });
  document.body.addEventListener("htmx:sendError", function () {
    say("dashboard unreachable: showing older data, retrying", true);
  });
  document.body.addEventListener("htmx:timeout", function () {
    say("refresh timed out, retrying", true);
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    say(paused() ? "paused" : "", false);
  });

  // Clicking a subscriber's row fills the move/remove form with its id.
  document.body.addEventListener("click", function (event) {
    var row = event.target.closest ? event.target.closest("tr[data-client]") : null;
    var input = document.getElementById("sub-client");
    if (row && input && !event.target.closest("a")) {
      input.value = row.getAttribute("data-client");
    }
  });

  // -- relative times --------------------------------------------------

  // The server's clock, not this computer's: stamps come from Redis TIME.
  var serverMs = parseFloat(document.body.getAttribute("data-server-ms"));
  var clockOffset = isNaN(serverMs) ? 0 : serverMs - Date.now();

  // The same words as the server's duration filter (dashboard/formatting.py).
  function duration(secs) {
    if (secs < 0) { secs = 0; }
    if (secs < 10) { return secs ? secs.toFixed(1) + " s" : "0 s"; }
    var whole = Math.floor(secs);
    var days = Math.floor(whole / 86400), rest = whole % 86400;
    var hours = Math.floor(rest / 3600); rest = rest % 3600;
    var minutes = Math.floor(rest / 60), s = rest % 60;
    if (days) { return days + " d " + hours + " h"; }
    if (hours) { return hours + " h " + minutes + " min"; }
    if (minutes) { return minutes + " min " + s + " s"; }
    return s + " s";
  }

  function ago(ts, now) {
    var delta = (now - ts) / 1000;
    return delta < 0.5 ? "just now" : duration(delta) + " ago";
  }

  function tick() {
    var now = Date.now() + clockOffset;
    var times = document.querySelectorAll("time[data-ts]");
    for (var i = 0; i < times.length; i++) {
      var ts = parseFloat(times[i].getAttribute("data-ts"));
      if (isNaN(ts)) { continue; }
      var text = ago(ts, now);
      // Only when it changed: rewriting a text node would drop a selection in it.
      if (times[i].textContent !== text) { times[i].textContent = text; }
    }
  }

  // -- the 503 page ----------------------------------------------------------

  var retry = document.getElementById("retry-reload");
  var retryTimer = null;

  function scheduleRetry() {
    if (!retry) { return; }
    window.clearTimeout(retryTimer);
    retryTimer = null;
    var every = document.getElementById("retry-seconds");
    if (every) { every.textContent = String(seconds()); }
    retry.hidden = false;
    var pausedNote = document.getElementById("retry-paused");
    if (pausedNote) { pausedNote.hidden = !paused(); }
    if (paused()) { return; }
    retryTimer = window.setTimeout(function () { window.location.reload(); }, seconds() * 1000);
  }

  select.addEventListener("change", scheduleRetry);
  pauseButton.addEventListener("click", scheduleRetry);
  window.addEventListener("storage", function (event) {
    if (event.key === STORE_PAUSED) { scheduleRetry(); }
  });

  showControl();
  if (paused()) { say("paused", false); }
  schedule();
  scheduleRetry();
  tick();
  window.setInterval(tick, 1000);
})();
