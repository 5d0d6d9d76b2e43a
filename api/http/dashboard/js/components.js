// The dashboard's web components: a sparkline (inline SVG) and the mastery-over-time chart
// (uPlot, with the level bands behind the line). Each carries its data in `data-points`
// and a text alternative, so screen readers and tests read exactly what is drawn.

import { LEVELS, esc, pct } from "./format.js";

// uPlot is loaded when a chart is first drawn: without vendor/ (a checkout where `make install`
// has not run) every page still works and the chart's table is shown instead of the drawing.
let library = null;
function chartLibrary() {
  library ||= import("../vendor/uPlot.esm.js").then((module) => module.default);
  return library;
}

const BAND_COLOURS = ["#fde2e1", "#fdf0d5", "#eef6dc", "#dcefe4", "#d6e9f8"];

class Sparkline extends HTMLElement {
  set points(values) {
    this.dataset.points = JSON.stringify(values);
    const width = 96;
    const height = 24;
    if (values.length === 0) {
      this.innerHTML = `<span class="muted">no data</span>`;
      return;
    }
    const x = (i) => (values.length === 1 ? width / 2 : (i * width) / (values.length - 1));
    const y = (v) => height - 2 - v * (height - 4);
    const path = values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
    const first = values[0];
    const last = values[values.length - 1];
    const label = `Mastery over the last ${values.length} days: from ${pct(first)} to ${pct(last)}`;
    this.innerHTML = `<svg width="${width}" height="${height}" role="img" aria-label="${esc(label)}">
      <path d="${path}" fill="none" stroke="#2563eb" stroke-width="1.5"/></svg>`;
  }
}

class MasteryChart extends HTMLElement {
  // snapshots: [{as_of, mastery_score, level}], as /history?fill=true answers them.
  set snapshots(snapshots) {
    this.dataset.points = JSON.stringify(snapshots.map((s) => [s.as_of, s.mastery_score]));
    this.innerHTML = "";
    const plot = document.createElement("div");
    plot.setAttribute("aria-hidden", "true");
    const table = this.table(snapshots);
    this.append(plot, table);
    this.draw(plot, snapshots).catch(() => {
      plot.remove();
      table.className = "";
    });
  }

  async draw(plot, snapshots) {
    const uPlot = await chartLibrary();
    if (this.chart) this.chart.destroy();
    const xs = snapshots.map((s) => Date.parse(`${s.as_of}T00:00:00Z`) / 1000);
    const ys = snapshots.map((s) => s.mastery_score);
    const width = Math.max(280, Math.min(this.clientWidth || 600, 1200));
    this.chart = new uPlot(
      {
        width,
        height: 260,
        scales: { y: { range: [0, 1] } },
        axes: [{}, { values: (_, ticks) => ticks.map((t) => pct(t)) }],
        series: [{}, { label: "Mastery", stroke: "#1d4ed8", width: 2, value: (_, v) => pct(v) }],
        legend: { show: false },
        hooks: { drawClear: [drawBands] },
      },
      [xs, ys],
      plot,
    );
  }

  table(snapshots) {
    const wrap = document.createElement("div");
    wrap.className = "visually-hidden";
    const rows = snapshots
      .map((s) => `<tr><td>${esc(s.as_of)}</td><td data-score="${s.mastery_score}">${pct(s.mastery_score)}</td><td>${esc(s.level)}</td></tr>`)
      .join("");
    wrap.innerHTML = `<table class="chart-data"><caption>Mastery by day</caption>
      <thead><tr><th scope="col">Date</th><th scope="col">Mastery</th><th scope="col">Level</th></tr></thead>
      <tbody>${rows}</tbody></table>`;
    return wrap;
  }
}

function drawBands(u) {
  const { ctx } = u;
  const { left, width } = u.bbox;
  ctx.save();
  ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
  ctx.textAlign = "right";
  LEVELS.forEach(([name, low, high], i) => {
    const top = u.valToPos(high, "y", true);
    const bottom = u.valToPos(low, "y", true);
    ctx.fillStyle = BAND_COLOURS[i];
    ctx.fillRect(left, top, width, bottom - top);
    ctx.fillStyle = "#4b5563";
    ctx.fillText(name, left + width - 4 * devicePixelRatio, bottom - 4 * devicePixelRatio);
  });
  ctx.restore();
}

customElements.define("mastery-sparkline", Sparkline);
customElements.define("mastery-chart", MasteryChart);
