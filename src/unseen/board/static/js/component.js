// The component page: draws its metrics with ECharts (only the charts the component logged), follows its
// log while the task runs (reading from an offset, so each poll sends only new lines), and refreshes task
// states until every task has ended.
"use strict";

(() => {
  const page = document.getElementById("page");
  const el = Board.el;
  const api = `/board/api/jobs/${encodeURIComponent(page.dataset.job)}/components/${encodeURIComponent(page.dataset.component)}`;
  const GRID = { left: 60, right: 24, top: 40, bottom: 50 };
  // Colour-blind-friendly, distinct on white; charts are redrawn whole, without animation, as data arrives.
  const BASE = {
    animation: false,
    color: ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#475569"],
    textStyle: { fontFamily: "system-ui, sans-serif" },
  };
  let metricsSeen = -1;

  // Tooltips are built here from classes in board.css: ECharts' default tooltip markup uses inline style
  // attributes, which the board's Content-Security-Policy (style-src 'self') refuses. Text is escaped.
  const encode = (text) => echarts.format.encodeHTML(String(text));
  const number = (value) =>
    typeof value === "number" && !Number.isInteger(value) ? String(Number(value.toPrecision(4))) : encode(value);
  const dot = (p) => `<span class="tt-dot tt-c${p.seriesIndex % BASE.color.length}"></span>`;
  const head = (text) => `<div class="tt-head">${text}</div>`;
  const line = (p, value) =>
    `<div class="tt-row">${dot(p)}<span class="tt-name">${encode(p.seriesName)}</span><b>${number(value)}</b></div>`;

  function axisTooltip(xName) {
    return (params) => head(`${encode(xName)} ${number(params[0]?.axisValue ?? "")}`) + params.map((p) => line(p, p.value[1])).join("");
  }

  function axis(name, extra) {
    return { type: "value", name, nameLocation: "middle", nameGap: 30, ...extra };
  }

  function lineOption(spec) {
    return {
      grid: GRID,
      tooltip: { trigger: "axis", formatter: axisTooltip(spec.x_label) },
      legend: { top: 0, type: "scroll" },
      xAxis: axis(spec.x_label, { minInterval: 1, min: "dataMin", max: "dataMax" }),
      yAxis: { type: "value", scale: true },
      series: spec.series.map((s) => ({
        name: s.name,
        type: "line",
        data: s.points,
        showSymbol: s.points.length <= 50,
        emphasis: { focus: "series" },
      })),
    };
  }

  function rocOption(spec) {
    return {
      grid: GRID,
      tooltip: { trigger: "axis", formatter: axisTooltip("false positive rate") },
      legend: { top: 0, type: "scroll" },
      xAxis: axis("false positive rate", { min: 0, max: 1 }),
      yAxis: axis("true positive rate", { min: 0, max: 1, nameGap: 40 }),
      series: [
        ...spec.series.map((s) => ({
          name: `${s.name} (AUC ${s.auc.toFixed(3)})`,
          type: "line",
          data: s.points,
          showSymbol: false,
          areaStyle: { opacity: 0.08 },
        })),
        {
          name: "chance",
          type: "line",
          data: [
            [0, 0],
            [1, 1],
          ],
          showSymbol: false,
          silent: true,
          tooltip: { show: false },
          lineStyle: { type: "dashed", color: "#9aa6b8", width: 1 },
          itemStyle: { color: "#9aa6b8" },
        },
      ],
    };
  }

  function ksOption(spec) {
    const series = [];
    for (const s of spec.series) {
      const zip = (ys) => s.threshold.map((t, i) => [t, ys[i]]);
      series.push({
        name: `${s.name} TPR`,
        type: "line",
        data: zip(s.tpr),
        showSymbol: false,
        markLine: {
          symbol: "none",
          lineStyle: { type: "dashed", color: "#dc2626" },
          label: { formatter: `KS ${s.ks.toFixed(3)}` },
          data: [{ xAxis: s.at }],
        },
      });
      series.push({ name: `${s.name} FPR`, type: "line", data: zip(s.fpr), showSymbol: false });
    }
    return {
      grid: GRID,
      tooltip: { trigger: "axis", formatter: axisTooltip("threshold") },
      legend: { top: 0, type: "scroll" },
      xAxis: axis("threshold", { scale: true }),
      yAxis: axis("rate", { min: 0, max: 1, nameGap: 40 }),
      series,
    };
  }

  // A decision chart (evaluation_views.py): lines over a shared x axis, rates shown as percentages.
  function xyOption(spec) {
    const pct = (v) => `${Math.round(v * 100)} %`;
    const series = spec.series.map((s) => ({
      name: s.name,
      type: "line",
      data: s.points,
      showSymbol: false,
      ...(spec.marker && s.name.startsWith("difference")
        ? { markLine: { symbol: "none", lineStyle: { type: "dashed", color: "#b91c1c" }, label: { formatter: spec.marker.label }, data: [{ xAxis: spec.marker.x }] } }
        : {}),
    }));
    const reference = (name, data) => ({
      name, type: "line", data, showSymbol: false, silent: true, tooltip: { show: false },
      lineStyle: { type: "dashed", color: "#7b8798", width: 1 }, itemStyle: { color: "#7b8798" },
    });
    if (spec.diagonal) series.push(reference("random", [[0, 0], [1, 1]]));
    if (spec.baseline !== undefined) series.push(reference(spec.baseline === 1 ? "random (1.0)" : "positive share", [[0, spec.baseline], [1, spec.baseline]]));
    return {
      grid: GRID,
      tooltip: { trigger: "axis", formatter: axisTooltip(spec.x_label) },
      legend: { top: 0, type: "scroll" },
      xAxis: axis(spec.x_label, { scale: !spec.percent_x, min: spec.percent_x ? 0 : undefined, max: spec.percent_x ? 1 : undefined, axisLabel: spec.percent_x ? { formatter: pct } : {} }),
      yAxis: axis(spec.y_label, { scale: true, nameGap: 44 }),
      series,
    };
  }

  function confusionOption(spec) {
    const data = [];
    let top = 0;
    spec.matrix.forEach((row, actual) =>
      row.forEach((count, predicted) => {
        data.push([predicted, actual, count, spec.percent?.[actual]?.[predicted], spec.row_percent?.[actual]?.[predicted]]);
        top = Math.max(top, count);
      }),
    );
    return {
      grid: { left: 70, right: 24, top: 20, bottom: 80 },
      tooltip: {
        formatter: (p) =>
          head(`actual ${encode(spec.labels[p.value[1]])}, predicted ${encode(spec.labels[p.value[0]])}`) +
          `<div class="tt-row">count <b>${number(p.value[2])}</b></div>` +
          (p.value[3] === undefined ? "" : `<div class="tt-row">of all rows <b>${number(p.value[3])} %</b></div>`) +
          (p.value[4] === undefined ? "" : `<div class="tt-row">of actual ${encode(spec.labels[p.value[1]])} <b>${number(p.value[4])} %</b></div>`),
      },
      xAxis: { type: "category", data: spec.labels, name: "predicted", nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "category", data: spec.labels, name: "actual", nameLocation: "middle", nameGap: 50, inverse: true },
      visualMap: {
        min: 0,
        max: top || 1,
        calculable: false,
        orient: "horizontal",
        left: "center",
        bottom: 0,
        itemHeight: 120,
        inRange: { color: ["#eef4ff", "#2563eb", "#1e3a8a"] },
      },
      series: [
        {
          type: "heatmap",
          data,
          label: {
            show: true,
            lineHeight: 18,
            fontSize: 13,
            formatter: (p) => (p.value[3] === undefined ? String(p.value[2]) : `${p.value[2]}\n${p.value[3]} %`),
          },
          emphasis: { itemStyle: { borderColor: "#111", borderWidth: 1 } },
        },
      ],
    };
  }

  // The horizontal aggregator's rounds (model_views.homo_nn): loss and accuracy on two axes, then workers and
  // seconds per round. Rounds count from 1, as the table below the charts does.
  function roundsOption(rounds) {
    const pick = (key) => rounds.filter((r) => r[key] !== null).map((r) => [r.round, r[key]]);
    return {
      grid: { ...GRID, right: 60 },
      tooltip: { trigger: "axis", formatter: axisTooltip("round") },
      legend: { top: 0 },
      xAxis: axis("round", { minInterval: 1, min: "dataMin", max: "dataMax" }),
      yAxis: [
        { type: "value", name: "loss", scale: true },
        { type: "value", name: "accuracy", min: 0, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)} %` } },
      ],
      series: [
        { name: "global loss", type: "line", data: pick("loss"), showSymbol: rounds.length <= 50 },
        { name: "global accuracy", type: "line", yAxisIndex: 1, data: pick("accuracy"), showSymbol: rounds.length <= 50 },
      ],
    };
  }

  function roundWorkersOption(rounds) {
    const pick = (key) => rounds.filter((r) => r[key] !== null).map((r) => [r.round, r[key]]);
    return {
      grid: { ...GRID, right: 60 },
      tooltip: { trigger: "axis", formatter: axisTooltip("round") },
      legend: { top: 0 },
      xAxis: axis("round", { minInterval: 1, min: "dataMin", max: "dataMax" }),
      yAxis: [
        { type: "value", name: "workers", minInterval: 1, min: 0 },
        { type: "value", name: "seconds", min: 0 },
      ],
      series: [
        { name: "workers", type: "bar", data: pick("workers"), itemStyle: { opacity: 0.6 } },
        { name: "seconds", type: "line", yAxisIndex: 1, data: pick("seconds"), showSymbol: rounds.length <= 50 },
      ],
    };
  }

  function drawModels(models) {
    for (const m of models) {
      if (!m.summary || m.summary.kind !== "homo_nn" || !m.summary.rounds.length) continue;
      for (const [id, option] of [
        [`chart-rounds-${m.slot}`, roundsOption],
        [`chart-round-workers-${m.slot}`, roundWorkersOption],
      ]) {
        const plot = document.querySelector(`#${CSS.escape(id)} .plot`);
        if (!plot) continue;
        const chart = echarts.getInstanceByDom(plot) || echarts.init(plot, null, { renderer: "canvas" });
        chart.setOption({ ...BASE, ...option(m.summary.rounds) }, true);
      }
    }
  }

  const OPTIONS = { line: lineOption, roc: rocOption, ks: ksOption, confusion: confusionOption, xy: xyOption };

  // Every chart's numbers as a table (its text alternative): at most ~60 rows, evenly picked, ends included.
  const round4 = (v) => (typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : String(v));

  function columnsOf(spec) {
    if (spec.kind === "ks") {
      return spec.series.flatMap((s) => [
        { name: `${s.name} TPR`, points: s.threshold.map((t, i) => [t, s.tpr[i]]) },
        { name: `${s.name} FPR`, points: s.threshold.map((t, i) => [t, s.fpr[i]]) },
      ]);
    }
    return spec.series.map((s) => ({ name: s.name, points: s.points }));
  }

  function dataTable(spec) {
    const table = el("table", { class: "grid" });
    if (spec.kind === "confusion") {
      table.append(el("thead", {}, el("tr", {}, el("th", {}, "actual \\ predicted"), ...spec.labels.map((l) => el("th", { class: "num" }, l)))));
      table.append(el("tbody", {}, ...spec.matrix.map((row, i) =>
        el("tr", {}, el("th", {}, spec.labels[i]), ...row.map((count, j) =>
          el("td", { class: "num" }, spec.percent ? `${count} (${spec.percent[i][j]} %)` : String(count)))))));
      return table;
    }
    const columns = columnsOf(spec);
    const xs = [...new Set(columns.flatMap((c) => c.points.map((p) => p[0])))].sort((a, b) => a - b);
    const keep = xs.length <= 60 ? xs : Array.from({ length: 60 }, (_, i) => xs[Math.round((i * (xs.length - 1)) / 59)]);
    const lookup = columns.map((c) => new Map(c.points.map((p) => [p[0], p[1]])));
    const xName = spec.x_label || (spec.kind === "roc" ? "false positive rate" : spec.kind === "ks" ? "threshold" : "x");
    table.append(el("thead", {}, el("tr", {}, el("th", { class: "num" }, xName), ...columns.map((c) => el("th", { class: "num" }, c.name)))));
    table.append(el("tbody", {}, ...[...new Set(keep)].map((x) =>
      el("tr", {}, el("td", { class: "num" }, round4(x)), ...lookup.map((m) => el("td", { class: "num" }, m.has(x) ? round4(m.get(x)) : ""))))));
    return table;
  }

  function describe(figure, spec) {
    figure.querySelector(".plot").setAttribute("role", "img");
    figure.querySelector(".plot").setAttribute("aria-label", `${spec.title}; its numbers are in the table below the chart`);
    let details = figure.querySelector("details.chart-data");
    if (!details) {
      details = el("details", { class: "chart-data" }, el("summary", {}, "Numbers"), el("div", { class: "scroll" }));
      figure.append(details);
    }
    details.querySelector(".scroll").replaceChildren(dataTable(spec));
  }

  function drawCharts(metrics) {
    if (metrics.count === metricsSeen) return;
    metricsSeen = metrics.count;
    const container = document.getElementById("charts");
    for (const spec of metrics.charts) {
      let figure = document.getElementById(`chart-${spec.id}`);
      if (!figure) {
        figure = el(
          "figure",
          { class: "chart", id: `chart-${spec.id}`, "data-kind": spec.kind, "data-metric": spec.metric },
          el("figcaption", {}, spec.title),
          el("div", { class: "plot" }),
        );
        container.append(figure);
      }
      figure.querySelector("figcaption").textContent = spec.title;
      const plot = figure.querySelector(".plot");
      const chart = echarts.getInstanceByDom(plot) || echarts.init(plot, null, { renderer: "canvas" });
      chart.setOption({ ...BASE, ...OPTIONS[spec.kind](spec) }, true);
      describe(figure, spec);
    }
    let flags = document.getElementById("convergence");
    if (!flags) {
      flags = el("div", { id: "convergence" });
      container.before(flags);
    }
    flags.replaceChildren(
      ...(metrics.flags || []).map((f) =>
        el(
          "p",
          { class: f.converged ? "flag ok" : "flag warn", "data-converged": String(f.converged) },
          f.converged ? "\u2713 " : "\u26a0 ",
          el("span", { class: "muted" }, `${f.who}: `),
          f.text,
        ),
      ),
    );
    const values = document.getElementById("values");
    values.classList.toggle("hidden", !metrics.values.length);
    values.tBodies[0].replaceChildren(
      ...metrics.values.map((v) =>
        el("tr", {}, el("td", { title: v.name }, v.label), el("td", {}, v.who), el("td", { class: "num" }, v.text)),
      ),
    );
    document.getElementById("other").replaceChildren(
      ...metrics.other.map((o) =>
        el(
          "details",
          { class: "json" },
          el(
            "summary",
            {},
            el("span", { class: "mono" }, o.name),
            " ",
            el("span", { class: "muted" }, o.step === null ? o.who : `${o.who}, step ${o.step}`),
          ),
          el("pre", { class: "code" }, o.text),
        ),
      ),
    );
    document.getElementById("no-metrics").classList.toggle("hidden", metrics.count > 0);
  }

  window.addEventListener("resize", () => {
    for (const plot of document.querySelectorAll(".chart .plot")) echarts.getInstanceByDom(plot)?.resize();
  });

  // --- the log: one tab per task of this component on this node -------------------------------------------
  const logEl = document.getElementById("log");
  const logState = document.getElementById("log-state");
  let logPoller = null;
  // Each line becomes a span with its level (a line without one, as in a traceback, continues the line before),
  // so errors stand out and the level filter hides the rest with CSS alone.
  const LEVEL = /\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b/;
  const RANK = { debug: 0, info: 1, warning: 2, error: 3, critical: 3 };
  let lastLevel = "info";

  function appendLog(text) {
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const found = LEVEL.exec(line.slice(0, 80));
      if (found) lastLevel = found[1].toLowerCase(); // a line without a level continues the one before it
      const rank = RANK[lastLevel];
      fragment.append(el("span", { class: `line l-${lastLevel} r${rank}` }, `${line}\n`));
    }
    logEl.append(fragment);
  }

  const levelSelect = document.getElementById("log-level");
  levelSelect?.addEventListener("change", () => {
    logEl.classList.remove("only-warning", "only-error");
    if (levelSelect.value !== "all") logEl.classList.add(`only-${levelSelect.value}`);
  });

  function followLog(tab) {
    if (logPoller) logPoller.stop();
    for (const other of document.querySelectorAll("#log-tabs .tab")) other.classList.toggle("active", other === tab);
    document.getElementById("log-download").href = tab.dataset.download;
    logEl.replaceChildren();
    lastLevel = "info";
    let offset = -1;
    logPoller = Board.poll(async () => {
      const chunk = await Board.getJSON(`${tab.dataset.api}&offset=${offset}`);
      if (offset < 0 && chunk.skipped) {
        logEl.append(`… ${chunk.skipped} earlier bytes are not shown here: download the whole log.\n`);
      }
      const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 30;
      if (chunk.text) appendLog(chunk.text);
      if (atBottom) logEl.scrollTop = logEl.scrollHeight;
      offset = chunk.offset;
      const done = chunk.final && chunk.offset >= chunk.size;
      logState.textContent = done ? `task ${chunk.status}; log complete` : `following · ${Board.clock()}`;
      return !done;
    }, 1000);
    logPoller.now();
  }

  const tabs = document.querySelectorAll("#log-tabs .tab");
  for (const tab of tabs) tab.addEventListener("click", () => followLog(tab));
  if (tabs.length) followLog(tabs[0]);

  // --- states and metrics -----------------------------------------------------------------------------------
  async function refresh() {
    const c = await Board.getJSON(api);
    Board.setBadge(document.getElementById("component-status"), c.status);
    Board.updateTasks(document.getElementById("tasks"), c.tasks);
    drawCharts(c.metrics);
    drawModels(c.models);
    if (c.logs.length && !logEl) location.reload(); // a task started here: show its log
    return !c.final;
  }
  Board.poll(refresh, 2000).now();
})();
