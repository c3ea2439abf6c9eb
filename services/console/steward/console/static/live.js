/* Live notifications (ES5, no eval: the CSP allows none). htmx's SSE extension prepends what the
   console relays from notify's stream; while that stream is open the 30 s poll of the same list is
   skipped, and after a reconnect the list is read once (what arrived meanwhile). */
(function () {
  var KEEP = 10; // the home page's list stays short however long it is open
  var live = false;
  var opened = false;

  function poll() {
    return document.querySelector("[data-live-poll]");
  }

  function mark(evt, state) {
    if (evt.target && evt.target.setAttribute) {
      evt.target.setAttribute("data-live", state);
    }
  }

  document.addEventListener("htmx:sseOpen", function (evt) {
    var target = poll();
    live = true;
    mark(evt, "open");
    if (opened && target && target.getAttribute("hx-get")) {
      htmx.ajax("GET", target.getAttribute("hx-get"), { source: "#live-inbox", target: target, swap: "innerHTML" });
    }
    opened = true;
  });

  document.addEventListener("htmx:sseError", function (evt) {
    live = false;
    mark(evt, "down");
  });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.target;
    if (live && elt && elt.hasAttribute && elt.hasAttribute("data-live-poll")) {
      evt.preventDefault();
    }
  });

  document.addEventListener("htmx:sseMessage", function () {
    var empty = document.querySelectorAll(".live-empty");
    for (var i = 0; i < empty.length; i++) {
      empty[i].parentNode.removeChild(empty[i]);
    }
    var list = document.getElementById("inbox-recent-list");
    while (list && list.children.length > KEEP) {
      list.removeChild(list.lastElementChild);
    }
    var badge = document.getElementById("unread-badge");
    if (badge) {
      htmx.trigger(badge, "live-badge");
    }
  });
})();
