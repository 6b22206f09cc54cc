// Waymark's one script, and pages work without it. It shows and hides a form's conditional
// fields as people fill it in, evaluating the same condition the server evaluates (sent as a
// tree in data-visible-when; see waymark_workflow::expr::Expr::tree). The server still decides
// when the form is sent, so a condition this script cannot evaluate simply leaves the field shown.
// It also lets the keyboard reach a table that scrolls sideways (on a phone, a wide table scrolls
// inside itself), gives wide pictures Fit and zoom buttons, and offers every table as CSV and
// every chart as SVG and PNG, made in the browser from what the page shows.
(function () {
  "use strict";
  function number(v) {
    if (typeof v === "number") return v;
    if (typeof v === "string" && v.trim() !== "" && !isNaN(Number(v))) return Number(v);
    return null;
  }
  function truthy(v) {
    if (v === true || v === false) return v;
    if (v === null || v === undefined) return false;
    throw new Error("not a condition");
  }
  function same(a, b) {
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
    return JSON.stringify(a) === JSON.stringify(b);
  }
  function evaluate(t, vars) {
    if ("lit" in t) return t.lit;
    if ("path" in t) {
      var v = vars[t.path[0]];
      for (var i = 1; i < t.path.length; i++) v = v && typeof v === "object" ? v[t.path[i]] : null;
      return v === undefined ? null : v;
    }
    if ("not" in t) return !truthy(evaluate(t.not, vars));
    if ("neg" in t) { var n = evaluate(t.neg, vars); if (typeof n !== "number") throw new Error("neg"); return -n; }
    if ("empty" in t) {
      var e = evaluate(t.empty, vars);
      return e === null || e === "" || (Array.isArray(e) && e.length === 0) ||
        (typeof e === "object" && Object.keys(e).length === 0);
    }
    if (t.op === "or") return truthy(evaluate(t.a, vars)) || truthy(evaluate(t.b, vars));
    if (t.op === "and") return truthy(evaluate(t.a, vars)) && truthy(evaluate(t.b, vars));
    var a = evaluate(t.a, vars), b = evaluate(t.b, vars);
    var x = number(a), y = number(b);
    var bothText = typeof a === "string" && typeof b === "string";
    var numbers = x !== null && y !== null;
    switch (t.op) {
      case "eq": case "ne": {
        var equal = numbers && !bothText ? x === y : same(a, b);
        return t.op === "eq" ? equal : !equal;
      }
      case "lt": case "le": case "gt": case "ge": {
        var c;
        if (bothText) c = a < b ? -1 : a > b ? 1 : 0;
        else if (numbers) c = x < y ? -1 : x > y ? 1 : 0;
        else throw new Error("compare");
        return t.op === "lt" ? c < 0 : t.op === "le" ? c <= 0 : t.op === "gt" ? c > 0 : c >= 0;
      }
      default: throw new Error("arithmetic is left to the server");
    }
  }
  // The form's values as the server reads them: ticked boxes true, unticked false, numbers as
  // numbers, blanks as nothing.
  function values(form) {
    var vars = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf" || el.type === "submit") return;
      if (el.type === "checkbox" && el.value === "true") { vars[el.name] = el.checked; return; }
      if (el.type === "radio" || el.type === "checkbox") { if (el.checked) vars[el.name] = el.value; return; }
      if (el.value === "") { if (!(el.name in vars)) vars[el.name] = null; return; }
      var n = el.inputMode === "decimal" ? number(el.value) : null;
      vars[el.name] = n !== null ? n : el.value;
    });
    return vars;
  }
  function update(form) {
    var vars = values(form);
    form.querySelectorAll("fieldset.conditional[data-visible-when]").forEach(function (box) {
      var show = true;
      try { show = truthy(evaluate(JSON.parse(box.getAttribute("data-visible-when")), vars)); }
      catch (error) { show = true; }
      box.hidden = !show;
      box.disabled = !show;
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("fieldset.conditional")) return;
    form.addEventListener("input", function () { update(form); });
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
  function reachable() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
      } else {
        table.removeAttribute("tabindex");
      }
    });
  }
  reachable();
  window.addEventListener("resize", reachable);

  // A picture wider than its screen (the journey map, the paths, the comparison) scrolls inside
  // its figure; these buttons fit it to the screen, or zoom it in and out from there.
  function zoomable(figure) {
    var svg = figure.querySelector("svg");
    var natural = svg && svg.viewBox && svg.viewBox.baseVal ? svg.viewBox.baseVal.width : 0;
    if (!natural) return;
    var scale = 1;
    var bar = document.createElement("div");
    bar.className = "zoom";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Size of " + (figure.getAttribute("aria-label") || "the picture"));
    var shown = document.createElement("span");
    shown.className = "zoom-level";
    shown.setAttribute("aria-live", "polite");
    function fit() { return Math.min(1, figure.clientWidth / natural); }
    function apply(next) {
      scale = Math.max(fit(), Math.min(2, next));
      svg.style.width = Math.round(natural * scale) + "px";
      shown.textContent = Math.round(scale * 100) + " %";
    }
    function button(text, label, act) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = text;
      if (label !== text) b.setAttribute("aria-label", label);
      b.addEventListener("click", act);
      bar.appendChild(b);
    }
    button("Fit", "Fit to the screen", function () { apply(fit()); });
    button("−", "Zoom out", function () { apply(scale / 1.25); });
    button("+", "Zoom in", function () { apply(scale * 1.25); });
    button("Actual size", "Actual size", function () { apply(1); });
    bar.appendChild(shown);
    figure.parentNode.insertBefore(bar, figure);
    apply(1);
  }
  document.querySelectorAll("figure.map").forEach(zoomable);

  // Sorting: a table's column headings become buttons that sort its rows (numbers as numbers,
  // dates and words as text); the heading says which way with aria-sort.
  function key(text) {
    var t = text.replace(/\s+/g, " ").trim();
    var n = t.replace(/[\s,%]/g, "").match(/^[-+]?\d+(\.\d+)?/);
    return n && n[0].length >= t.replace(/[\s,%]/g, "").length - 4 ? { n: Number(n[0]) } : { t: t.toLowerCase() };
  }
  function compare(a, b) {
    if ("n" in a && "n" in b) return a.n - b.n;
    var x = "n" in a ? String(a.n) : a.t, y = "n" in b ? String(b.n) : b.t;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  function sortable(table) {
    var head = table.tHead, body = table.tBodies[0];
    if (!head || !body || body.rows.length < 3 || head.rows.length !== 1) return;
    var headings = head.rows[0].cells;
    Array.prototype.forEach.call(headings, function (th, column) {
      var label = th.textContent.trim();
      if (!label || th.querySelector(".visually-hidden")) return;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      b.textContent = label;
      th.textContent = "";
      th.appendChild(b);
      th.setAttribute("aria-sort", "none");
      b.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headings, function (other) { if (other.hasAttribute("aria-sort")) other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var c = compare(key(r.cells[column] ? r.cells[column].textContent : ""), key(s.cells[column] ? s.cells[column].textContent : ""));
          return up ? c : -c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
  document.querySelectorAll("main table").forEach(sortable);

  // Downloads, made here from the page: nothing is sent anywhere.
  function slug(text) {
    var s = (text || "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    return s.slice(0, 60) || "waymark";
  }
  function heading() {
    var h = document.querySelector("main h1");
    return h ? h.textContent : document.title;
  }
  function download(blob, name) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 2000);
  }
  // What a cell says, without the buttons and forms in it.
  function said(cell) {
    var copy = cell.cloneNode(true);
    copy.querySelectorAll("form, button:not(.sort), script").forEach(function (el) { el.remove(); });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }
  // One CSV field. Text a spreadsheet would run as a formula (=, +, -, @ first) is kept as text
  // with a leading apostrophe; plain numbers stay numbers.
  function field(text) {
    if (/^[=+\-@]/.test(text) && !/^[+-]?\d+([.,]\d+)?( ?%)?$/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function csv(table) {
    return Array.prototype.map.call(table.rows, function (row) {
      return Array.prototype.map.call(row.cells, function (cell) { return field(said(cell)); }).join(",");
    }).join("\r\n") + "\r\n";
  }
  function labelOf(el, fallback) {
    var caption = el.querySelector && el.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    var named = el.getAttribute && el.getAttribute("aria-label");
    if (named) return named;
    for (var at = el.previousElementSibling; at; at = at.previousElementSibling) {
      if (/^H[2-4]$/.test(at.tagName)) return at.textContent.trim();
    }
    return fallback;
  }
  function toolbar(after, label, actions) {
    var bar = document.createElement("div");
    bar.className = "export";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Download " + label);
    actions.forEach(function (action) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = action[0];
      b.setAttribute("aria-label", action[0] + ": " + label);
      b.addEventListener("click", action[1]);
      bar.appendChild(b);
    });
    after.parentNode.insertBefore(bar, after.nextSibling);
  }
  document.querySelectorAll("main table").forEach(function (table, n) {
    if (table.rows.length < 2) return;
    var label = labelOf(table, "table " + (n + 1));
    toolbar(table, label, [["Download CSV", function () {
      // With a byte-order mark, so that spreadsheets read the text as UTF-8.
      download(new Blob(["\ufeff" + csv(table)], { type: "text/csv;charset=utf-8" }),
        slug(heading()) + "-" + slug(label) + ".csv");
    }]]);
  });
  // A chart as a file of its own: the styles the page gives it written onto it.
  var DRAWN = ["fill", "fill-opacity", "stroke", "stroke-width", "stroke-dasharray", "stroke-opacity",
    "opacity", "font-size", "font-family", "font-weight", "text-anchor", "dominant-baseline"];
  function standalone(svg) {
    var copy = svg.cloneNode(true);
    copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
    var from = [svg].concat(Array.prototype.slice.call(svg.querySelectorAll("*")));
    var to = [copy].concat(Array.prototype.slice.call(copy.querySelectorAll("*")));
    // As presentation attributes: a style attribute would break the page's content policy.
    from.forEach(function (el, i) {
      var style = getComputedStyle(el);
      DRAWN.forEach(function (p) { var v = style.getPropertyValue(p); if (v) to[i].setAttribute(p, v); });
      to[i].removeAttribute("class");
    });
    var box = svg.viewBox.baseVal;
    copy.setAttribute("width", box.width);
    copy.setAttribute("height", box.height);
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
  }
  function png(svg, name) {
    var box = svg.viewBox.baseVal, scale = Math.min(2, 16000 / Math.max(box.width, box.height));
    var image = new Image();
    image.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(box.width * scale);
      canvas.height = Math.round(box.height * scale);
      var g = canvas.getContext("2d");
      g.fillStyle = "#ffffff";
      g.fillRect(0, 0, canvas.width, canvas.height);
      g.drawImage(image, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) { download(blob, name); }, "image/png");
    };
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(standalone(svg));
  }
  document.querySelectorAll("main svg").forEach(function (svg, n) {
    if (svg.parentNode.closest("svg") || svg.classList.contains("chart-narrow")) return;
    // Decorations (a legend's swatch) are not charts.
    if (svg.getAttribute("aria-hidden") === "true") return;
    if (!svg.viewBox || !svg.viewBox.baseVal || !svg.viewBox.baseVal.width) return;
    // A bar chart is drawn twice (wide, and narrow for phones): the one shown is saved.
    var narrow = svg.classList.contains("chart-wide") ? svg.nextElementSibling : null;
    if (narrow && !narrow.classList.contains("chart-narrow")) narrow = null;
    function shown() { return narrow && narrow.getClientRects().length ? narrow : svg; }
    var figure = svg.closest("figure");
    var label = labelOf(figure || svg, "chart " + (n + 1));
    var name = slug(heading()) + "-" + slug(label);
    toolbar(narrow || (figure || svg), label, [
      ["Download SVG", function () {
        download(new Blob([standalone(shown())], { type: "image/svg+xml" }), name + ".svg");
      }],
      ["Download PNG", function () { png(shown(), name + ".png"); }]
    ]);
  });
  // The journey editor: the map and the problems are redrawn as people type (the server checks
  // the form as `waymark journey lint` would), and choosing a rule's event brings its property
  // values to choose from (the button that does it without a script is pressed for them).
  var editor = document.querySelector("form.editor[data-preview]");
  var previewBody = document.getElementById("preview-body");
  if (editor && previewBody && window.fetch && window.FormData) {
    var timer = null, asked = 0;
    var redraw = function () {
      var n = ++asked;
      var body = new URLSearchParams(new FormData(editor));
      fetch(editor.getAttribute("data-preview"), { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && n === asked) previewBody.innerHTML = html; })
        .catch(function () {});
    };
    editor.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(redraw, 400); });
    editor.addEventListener("change", function (e) {
      var select = e.target;
      if (select.matches && select.matches("select[data-refresh]")) {
        var again = select.closest("fieldset").querySelector("button[value=preview]");
        if (again) again.click();
      }
    });
  }
})();
