// The dashboard's charts, drawn with uPlot from the page's data block (#dashboard-data), and the periodic reload
// of the figures: the page is fetched again, its live sections and its data block replace the current ones, and
// the charts are drawn again. No inline script or style: the Content-Security-Policy forbids them.
"use strict";
(function () {
  var colors = {
    attempts: "#9ab8d8",
    migrations: "#3a7d44",
    cumulative: "#d0661c",
    MigratePassword: "#3a7d44",
    UpdatePassword: "#7b5ea7",
    Retry: "#e0a526",
    Block: "#c0392b"
  };
  var actionOrder = ["MigratePassword", "UpdatePassword", "Retry", "Block"];
  var frontColors = ["#2f6db5", "#d0661c", "#7b5ea7", "#3a7d44"];
  var day = 86400;
  var charts = {};

  function readData(doc) {
    return JSON.parse(doc.getElementById("dashboard-data").textContent);
  }

  function dayTs(d) {
    return Date.parse(d + "T00:00:00Z") / 1000;
  }

  function chartWidth(el) {
    return Math.max(el.clientWidth, 320);
  }

  function fromZero(u, min, max) {
    return [0, max > 0 ? max * 1.1 : 1];
  }

  function utc(ts) {
    return uPlot.tzDate(new Date(ts * 1000), "UTC");
  }

  // dayAxis labels the time axis with UTC days only, a day or more apart.
  var dayAxis = {
    space: 70,
    incrs: [day, 2 * day, 7 * day, 14 * day, 28 * day, 91 * day, 182 * day, 364 * day],
    values: function (u, splits) {
      return splits.map(isoDay);
    }
  };

  function dayRange(xs) {
    return function () {
      return [xs[0] - day * 0.6, xs[xs.length - 1] + day * 0.6];
    };
  }

  function isoDay(ts) {
    return new Date(ts * 1000).toISOString().slice(0, 10);
  }

  // idle makes a series' legend value: the value under the cursor, or, with no cursor on the chart, the given
  // summary (a total), so the legend reads well on a screen nobody points at.
  function idle(summary) {
    return function (u, v, sidx, idx) {
      return idx == null ? summary : v;
    };
  }

  function sum(xs) {
    return xs.reduce(function (a, b) { return a + b; }, 0);
  }

  function empty(el, text) {
    var p = document.createElement("p");
    p.className = "empty";
    p.textContent = text;
    el.appendChild(p);
  }

  // place replaces what el shows by a new chart, or by a note when there is nothing to draw.
  function place(id, make) {
    var el = document.getElementById(id);
    if (charts[id]) {
      charts[id].destroy();
      delete charts[id];
    }
    el.textContent = "";
    var c = make(el);
    if (typeof c === "string") {
      empty(el, c);
    } else {
      charts[id] = c;
    }
  }

  function progressChart(d) {
    return function (el) {
      var rows = d.progress || [];
      if (rows.length === 0) {
        return "No attempts recorded yet.";
      }
      var xs = rows.map(function (r) { return dayTs(r.day); });
      var attempts = rows.map(function (r) { return r.attempts; });
      var migrations = rows.map(function (r) { return r.migrations; });
      var cumulative = rows.map(function (r) { return r.cumulative; });
      var bars = uPlot.paths.bars({ size: [0.7, 48] });
      var opts = {
        width: chartWidth(el),
        height: 280,
        tzDate: utc,
        scales: { x: { time: true, range: dayRange(xs) }, y: { range: fromZero }, total: { range: fromZero } },
        axes: [
          dayAxis,
          { label: "per day", size: 60 },
          { scale: "total", side: 1, label: "migrated so far", size: 70, grid: { show: false } }
        ],
        series: [
          { label: "day (UTC)", value: function (u, v) { return v == null ? rows.length + " days" : isoDay(v); } },
          { label: "attempts", value: idle(sum(attempts)), stroke: colors.attempts, fill: colors.attempts, width: 0,
            paths: bars, points: { show: false } },
          { label: "migrations", value: idle(sum(migrations)), stroke: colors.migrations, fill: colors.migrations,
            width: 0, paths: bars, points: { show: false } },
          { label: "migrated so far", value: idle(cumulative[cumulative.length - 1]), scale: "total",
            stroke: colors.cumulative, width: 3, points: { show: true, size: 7, fill: colors.cumulative } }
        ]
      };
      var data = [xs, attempts, migrations, cumulative];
      return new uPlot(opts, data, el);
    };
  }

  function actionsChart(d) {
    return function (el) {
      var rows = d.progress || [];
      if (rows.length === 0) {
        return "No attempts recorded yet.";
      }
      var seen = {};
      rows.forEach(function (r) {
        Object.keys(r.byAction || {}).forEach(function (a) { seen[a] = true; });
      });
      var actions = actionOrder.filter(function (a) { return seen[a]; });
      Object.keys(seen).sort().forEach(function (a) {
        if (actions.indexOf(a) < 0) { actions.push(a); }
      });
      var xs = rows.map(function (r) { return dayTs(r.day); });
      var series = [{ label: "day (UTC)", value: function (u, v) { return v == null ? rows.length + " days" : isoDay(v); } }];
      var data = [xs];
      actions.forEach(function (a) {
        var ys = rows.map(function (r) { return (r.byAction && r.byAction[a]) || 0; });
        series.push({ label: a, value: idle(sum(ys)), stroke: colors[a] || "#6e7781", width: 2,
          points: { show: true, size: 6 } });
        data.push(ys);
      });
      var opts = {
        width: chartWidth(el),
        height: 240,
        tzDate: utc,
        scales: { x: { time: true, range: dayRange(xs) }, y: { range: fromZero } },
        axes: [dayAxis, { label: "attempts", size: 60 }],
        series: series
      };
      return new uPlot(opts, data, el);
    };
  }

  function latencyChart(d) {
    return function (el) {
      var r = d.replica || {};
      var hs = r.latency || [];
      var bounds = r.bounds || [];
      if (hs.length === 0) {
        return "No answer given by this replica yet.";
      }
      var labels = bounds.map(function (b) { return "≤ " + (b < 1 ? Math.round(b * 1000) + " ms" : b + " s"); });
      labels.push("> " + bounds[bounds.length - 1] + " s");
      var xs = labels.map(function (_, i) { return i; });
      var size = hs.length === 1 ? 0.6 : 0.4;
      var series = [{ label: "answered within", value: function (u, v) { return v == null ? "any time" : labels[v]; } }];
      var data = [xs];
      hs.forEach(function (h, i) {
        var align = hs.length === 2 ? (i === 0 ? -1 : 1) : 0;
        var c = frontColors[i % frontColors.length];
        // No outline: an empty bucket draws nothing rather than a line along the axis.
        series.push({ label: h.front, value: idle(h.n), stroke: c, fill: c, width: 0, points: { show: false },
          paths: uPlot.paths.bars({ size: [size, 40], align: align }) });
        data.push(h.counts);
      });
      var opts = {
        width: chartWidth(el),
        height: 240,
        scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: fromZero } },
        axes: [
          { splits: function () { return xs; }, values: function (u, splits) {
            return splits.map(function (i) { return labels[i] || ""; });
          }, size: 40 },
          { label: "answers", size: 60 }
        ],
        series: series
      };
      return new uPlot(opts, data, el);
    };
  }

  function draw(d) {
    place("chart-progress", progressChart(d));
    place("chart-actions", actionsChart(d));
    place("chart-latency", latencyChart(d));
  }

  function showStatus(text, failed) {
    var el = document.getElementById("refresh-status");
    el.textContent = text;
    el.className = failed ? "meta failed" : "meta";
  }

  function reload() {
    fetch(window.location.pathname, { cache: "no-store", credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("[data-live]").forEach(function (el) {
          var cur = document.getElementById(el.id);
          if (cur) {
            cur.replaceWith(document.importNode(el, true));
          }
        });
        document.getElementById("dashboard-data").textContent = doc.getElementById("dashboard-data").textContent;
        draw(readData(document));
        showStatus("", false);
      })
      .catch(function (err) {
        showStatus("The figures could not be reloaded at " + new Date().toISOString().slice(11, 19) +
          " UTC (" + err.message + "); the page shows the previous ones.", true);
      });
  }

  function resize() {
    Object.keys(charts).forEach(function (id) {
      var el = document.getElementById(id);
      charts[id].setSize({ width: chartWidth(el), height: charts[id].height });
    });
  }

  var data = readData(document);
  draw(data);
  window.addEventListener("resize", resize);
  window.setInterval(reload, Math.max(data.refreshSeconds || 30, 1) * 1000);
})();
