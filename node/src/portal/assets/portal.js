// Safeport portal: keyboard shortcuts for triage on a report's page. Everything works
// without this script (plain forms and links); it only saves clicks.
//   j / k  next / previous media item      r  reveal the focused item
//   b      baseline   n  nationally illegal   x  not illegal
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var items = Array.prototype.slice.call(document.querySelectorAll(".item[tabindex]"));
  if (items.length === 0) { return; }
  function focused() { return items.indexOf(document.activeElement); }
  function submit(item, selector) {
    var button = item.querySelector(selector);
    if (button) { button.click(); }
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var index = focused();
    if (event.key === "j" || event.key === "k") {
      var next = event.key === "j" ? index + 1 : index - 1;
      if (index < 0) { next = 0; }
      if (next >= 0 && next < items.length) { items[next].focus(); event.preventDefault(); }
      return;
    }
    if (index < 0) { return; }
    var item = items[index];
    var keys = { b: "button[value=baseline]", n: "button[value=nationally-illegal]", x: "button[value=not-illegal]", r: "button.reveal" };
    if (keys[event.key]) { submit(item, keys[event.key]); event.preventDefault(); }
  });
  var hash = window.location.hash;
  var start = hash ? document.getElementById(hash.slice(1)) : null;
  (start && items.indexOf(start) >= 0 ? start : items[0]).focus();
});
