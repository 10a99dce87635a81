/* Draws every Plotly chart of a page from the figure JSON that the server put next to it.
 *
 * <div data-chart="chart-nta"></div> is drawn from <script type="application/json"
 * id="chart-nta"> (Django's json_script). A JSON script element is data, never executed, so
 * no inline script is needed under the Content Security Policy (script-src 'self').
 * Content swapped in by htmx is drawn too.
 *
 * plotly.js (1.9 MB) is not a script tag of the page: this script adds it, from its own
 * data-plotly attribute, once the document is parsed and only if there is a chart to draw.
 * Parsing and running it no longer hold up DOMContentLoaded (the page is readable and
 * usable while the charts are drawn), and a page without a chart never loads it.
 */
(function () {
  "use strict";

  var CONFIG = { responsive: true, displaylogo: false };
  var self = document.currentScript;
  var PLOTLY_SRC = self ? self.getAttribute("data-plotly") : null;

  function whenPlotly(then) {
    if (window.Plotly) {
      then();
      return;
    }
    if (!PLOTLY_SRC) {
      return;
    }
    // One tag per page, even when htmx runs this script again with swapped content.
    var tag = document.querySelector("script[data-plotly-bundle]");
    if (!tag) {
      tag = document.createElement("script");
      tag.src = PLOTLY_SRC;
      tag.setAttribute("data-plotly-bundle", "");
      document.head.appendChild(tag);
    }
    tag.addEventListener("load", then);
  }

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
    if (!charts.length) {
      return;
    }
    whenPlotly(function () {
      for (var i = 0; i < charts.length; i++) {
        draw(charts[i]);
      }
    });
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
