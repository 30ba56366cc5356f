// callqa supervisor app: the audio player (seek on timestamp / evidence / timeline
// clicks, the current turn follows playback) and "select all" in the library.
(function () {
  "use strict";

  function player() { return document.getElementById("player"); }

  function seek(t) {
    var audio = player();
    if (!audio || isNaN(t)) { return false; }
    audio.currentTime = Math.max(0, t);
    var p = audio.play();
    if (p && p.catch) { p.catch(function () { /* autoplay refused: the position is still set */ }); }
    return true;
  }

  function follow() {
    var audio = player();
    if (!audio) { return; }
    var timeline = document.getElementById("timeline");
    var head = document.getElementById("playhead");
    var turns = Array.prototype.slice.call(document.querySelectorAll("#transcript .turn"));
    var current = null;
    audio.addEventListener("timeupdate", function () {
      var t = audio.currentTime;
      var d = parseFloat(timeline && timeline.dataset.duration) || audio.duration || 0;
      if (head && d > 0) { head.style.left = Math.min(100, 100 * t / d) + "%"; }
      var found = null;
      for (var i = 0; i < turns.length; i++) {
        var s = parseFloat(turns[i].dataset.start), e = parseFloat(turns[i].dataset.end);
        if (t >= s && t < e + 0.05) { found = turns[i]; }
      }
      if (found !== current) {
        if (current) { current.classList.remove("current"); }
        if (found) { found.classList.add("current"); }
        current = found;
      }
    });
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-seek]") : null;
    if (!el) { return; }
    if (seek(parseFloat(el.dataset.seek))) {
      ev.preventDefault();
      history.replaceState(null, "", "#t=" + el.dataset.seek);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    follow();
    // Links from the queue open the call at the flagged moment: /calls/ID#t=12.5; search hits
    // and topic examples at theirs: /calls/ID?t=12.5
    var m = /^#t=([0-9.]+)$/.exec(window.location.hash) ||
            /[?&]t=([0-9.]+)(?:&|$)/.exec(window.location.search);
    var audio = player();
    if (m && audio) {
      var t = parseFloat(m[1]);
      var go = function () { audio.currentTime = t; };
      if (audio.readyState >= 1) { go(); } else { audio.addEventListener("loadedmetadata", go, { once: true }); }
    }
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        document.querySelectorAll("input.pick").forEach(function (box) { box.checked = all.checked; });
      });
    }
  });
}());
