/* A table wider than the screen scrolls inside its .table-responsive wrapper; a keyboard user
 * must be able to scroll it too (WCAG 2.1.1 Keyboard). So a wrapper that scrolls becomes a
 * named, focusable region (arrow keys scroll it once it has the focus), and stops being one
 * when the window grows wide enough for its table. Content swapped in by htmx is handled too.
 */
(function () {
  "use strict";

  function name(wrapper) {
    var caption = wrapper.querySelector("caption");
    if (caption) {
      return caption.textContent.trim();
    }
    for (var el = wrapper.previousElementSibling; el; el = el.previousElementSibling) {
      if (/^H[1-6]$/.test(el.tagName)) {
        return el.textContent.trim() + " (table)";
      }
    }
    return "Table";
  }

  function mark(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var wrappers = Array.prototype.slice.call(scope.querySelectorAll(".table-responsive"));
    if (scope.matches && scope.matches(".table-responsive")) {
      wrappers.push(scope);
    }
    for (var i = 0; i < wrappers.length; i++) {
      var wrapper = wrappers[i];
      if (wrapper.scrollWidth > wrapper.clientWidth) {
        wrapper.setAttribute("tabindex", "0");
        wrapper.setAttribute("role", "region");
        if (!wrapper.hasAttribute("aria-label")) {
          wrapper.setAttribute("aria-label", name(wrapper));
          wrapper.setAttribute("data-scroll-named", "1");
        }
      } else if (wrapper.getAttribute("role") === "region") {
        wrapper.removeAttribute("tabindex");
        wrapper.removeAttribute("role");
        if (wrapper.hasAttribute("data-scroll-named")) {
          wrapper.removeAttribute("aria-label");
          wrapper.removeAttribute("data-scroll-named");
        }
      }
    }
  }

  var pending = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      mark(document);
    }, 150);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      mark(document);
    });
  } else {
    mark(document);
  }
  document.addEventListener("htmx:load", function (event) {
    mark(event.target);
  });
})();
