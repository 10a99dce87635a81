/* The worksheet grid (templates/assays/worksheet.html), made quicker at the bench.
 *
 * The grid is a plain form that works without this file (Enter checks the sheet, the "add"
 * buttons post it back). With it:
 *   - Enter moves down a column (a barcode scanner types the code and Enter: the next row's
 *     sample cell is ready for the next scan), Shift+Enter moves up; Tab is the browser's own.
 *   - A block pasted from a spreadsheet (rows of tab-separated cells) fills the grid from the
 *     cell it is pasted into, adding rows as needed.
 *   - "Add rows" and "Add the ticked samples" work in the page, without a round trip.
 *   - Each cell's aria-label names its row's sample as the sample is typed.
 * Kept in a file: the Content Security Policy (script-src 'self') forbids inline scripts.
 */
(function () {
  "use strict";

  var form = document.getElementById("worksheet");
  if (!form) {
    return;
  }
  var body = document.getElementById("ws-rows");
  var template = document.getElementById("ws-row-template");
  var total = form.querySelector("input[name$='-TOTAL_FORMS']");
  var status = document.getElementById("ws-status");
  var maxRows = parseInt(form.getAttribute("data-max-rows"), 10) || 96;
  var moreRows = parseInt(form.getAttribute("data-more-rows"), 10) || 8;

  function rows() {
    return body.querySelectorAll("tr.ws-row");
  }

  function cellsOf(row) {
    return row.querySelectorAll(".ws-cell");
  }

  function sampleOf(row) {
    return row.querySelector(".ws-sample .ws-cell");
  }

  function say(message) {
    status.textContent = message;
  }

  function relabel(row) {
    var sample = sampleOf(row).value.trim();
    cellsOf(row).forEach(function (cell) {
      var who = sample || cell.getAttribute("data-row-label");
      cell.setAttribute("aria-label", who + ": " + cell.getAttribute("data-column"));
    });
  }

  // A new row from the formset's empty form: "__prefix__" becomes its index in every name,
  // id and label, and the management form counts it.
  function addRow() {
    var n = rows().length;
    if (n >= maxRows) {
      return null;
    }
    body.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(n)));
    total.value = String(n + 1);
    var row = rows()[n];
    row.querySelector(".ws-rownum").textContent = String(n + 1);
    cellsOf(row).forEach(function (cell) {
      cell.setAttribute("data-row-label", "Row " + (n + 1));
    });
    relabel(row);
    return row;
  }

  function position(cell) {
    var row = cell.closest("tr.ws-row");
    return {
      row: Array.prototype.indexOf.call(rows(), row),
      col: Array.prototype.indexOf.call(cellsOf(row), cell),
    };
  }

  function cellAt(r, c, grow) {
    while (grow && r >= rows().length) {
      if (!addRow()) {
        return null;
      }
    }
    var row = rows()[r];
    return row ? cellsOf(row)[c] || null : null;
  }

  function moveTo(cell) {
    if (cell) {
      cell.focus();
      cell.select();
    }
  }

  body.addEventListener("keydown", function (event) {
    var cell = event.target;
    if (event.key !== "Enter" || !cell.classList.contains("ws-cell") || event.isComposing) {
      return;
    }
    event.preventDefault(); // never submit the sheet from a cell
    var at = position(cell);
    moveTo(cellAt(at.row + (event.shiftKey ? -1 : 1), at.col, !event.shiftKey));
  });

  // Spreadsheets quote a cell holding a tab, a newline or a quote: "a ""b""" is a "b".
  function unquote(value) {
    var text = value.trim();
    if (text.length > 1 && text.charAt(0) === '"' && text.charAt(text.length - 1) === '"') {
      text = text.slice(1, -1).replace(/""/g, '"');
    }
    return text;
  }

  body.addEventListener("paste", function (event) {
    var cell = event.target;
    if (!cell.classList.contains("ws-cell") || !event.clipboardData) {
      return;
    }
    var text = event.clipboardData.getData("text/plain");
    if (!/[\t\n\r]/.test(text)) {
      return; // one value: the browser pastes it into the cell
    }
    event.preventDefault();
    var lines = text.replace(/\r\n?/g, "\n").split("\n");
    if (lines.length > 1 && lines[lines.length - 1] === "") {
      lines.pop(); // the newline a spreadsheet ends its copy with
    }
    var at = position(cell);
    var filled = 0;
    var dropped = 0;
    var widest = 0;
    lines.forEach(function (line, i) {
      var values = line.split("\t");
      widest = Math.max(widest, values.length);
      var target = null;
      values.forEach(function (value, j) {
        target = cellAt(at.row + i, at.col + j, true);
        if (target) {
          target.value = unquote(value);
        } else {
          dropped += 1;
        }
      });
      var row = rows()[at.row + i];
      if (row) {
        relabel(row);
        filled += 1;
      }
    });
    var message = "Pasted " + filled + " row" + (filled === 1 ? "" : "s") + " of " + widest +
      " column" + (widest === 1 ? "" : "s") + ".";
    if (dropped) {
      message += " " + dropped + " value" + (dropped === 1 ? " was" : "s were") +
        " left out: the grid holds " + maxRows + " rows and these columns only.";
    }
    say(message);
  });

  body.addEventListener("input", function (event) {
    if (event.target.closest(".ws-sample")) {
      relabel(event.target.closest("tr.ws-row"));
    }
  });

  var more = document.getElementById("ws-more");
  if (more) {
    more.addEventListener("click", function (event) {
      event.preventDefault();
      var first = null;
      for (var i = 0; i < moreRows; i++) {
        var row = addRow();
        first = first || row;
      }
      if (first) {
        sampleOf(first).focus();
        say("Rows added: the grid has " + rows().length + ".");
      } else {
        say("The grid holds at most " + maxRows + " rows.");
      }
    });
  }

  var add = document.getElementById("ws-add");
  if (add) {
    add.addEventListener("click", function (event) {
      event.preventDefault();
      var present = {};
      rows().forEach(function (row) {
        present[sampleOf(row).value.trim()] = true;
      });
      var added = 0;
      var r = 0;
      form.querySelectorAll("input[name='pick']:checked").forEach(function (box) {
        if (present[box.value]) {
          box.checked = false;
          return;
        }
        while (cellAt(r, 0, true) && sampleOf(rows()[r]).value.trim()) {
          r += 1;
        }
        var cell = cellAt(r, 0, true);
        if (!cell) {
          return;
        }
        cell.value = box.value;
        relabel(rows()[r]);
        present[box.value] = true;
        box.checked = false;
        added += 1;
      });
      say(added + " sample" + (added === 1 ? "" : "s") + " added to the worksheet.");
    });
  }
})();
