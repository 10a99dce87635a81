/* Draws every Plotly chart of a page from the figure JSON that the server put next to it.
 *
 * <div data-chart="chart-nta"></div> is drawn from <script type="application/json"
 * id="chart-nta"> (Django's json_script). A JSON script element is data, never executed, so
 * no inline script is needed under the Content Security Policy (script-src 'self').
 * Content swapped in by htmx is drawn too.
 */
(function () {
  "use strict";

  var CONFIG = { responsive: true, displaylogo: false };

  function draw(el) {
    if (el.getAttribute("data-chart-drawn") || !window.Plotly) {
      return;
    }
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    el.setAttribute("data-chart-drawn", "1");
    window.Plotly.newPlot(el, figure.data || [], figure.layout || {}, CONFIG).then(function () {
      el.setAttribute("data-chart-ready", "1");
    });
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var charts = scope.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) {
      draw(charts[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      drawAll(document);
    });
  } else {
    drawAll(document);
  }
  document.addEventListener("htmx:load", function (event) {
    drawAll(event.target);
  });
})();
