/* nanobridge pages: draw the Plotly figures embedded as JSON data blocks.
 * No inline scripts are used (Content-Security-Policy: script-src 'self'). */
(function () {
  "use strict";
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function drawFigures(root) {
    if (typeof window.Plotly === "undefined") { return; }
    var blocks = (root || document).querySelectorAll("script.nb-figure");
    blocks.forEach(function (block) {
      var target = document.getElementById(block.getAttribute("data-target"));
      if (!target || target.getAttribute("data-drawn") === "1") { return; }
      try {
        var fig = JSON.parse(block.textContent);
        var layout = fig.layout || {};
        layout.autosize = true;
        window.Plotly.newPlot(target, fig.data || [], layout, CONFIG).then(function () {
          target.setAttribute("data-drawn", "1");
          target.classList.add("drawn");
        });
      } catch (err) {
        target.textContent = "This figure could not be drawn: " + err;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawFigures(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { drawFigures(evt.target); });
})();
