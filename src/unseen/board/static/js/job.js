// The job page: draws the DAG with ECharts (columns are topological levels, colours are states; a click
// opens the component) and refreshes states, times and the stop button every 2 s until the job ends.
"use strict";

(() => {
  const page = document.getElementById("page");
  const jobId = page.dataset.job;
  const dagEl = document.getElementById("dag");
  const COLUMN_GAP = 250;
  const ROW_GAP = 76;
  const NODE = [180, 50];
  let chart = null;
  let lastDag = null;
  let finalSince = null;

  // A rounded box, as a path so ECharts scales it to NODE without rounding it into a pill.
  const BOX = "path://M6,0H174Q180,0,180,6V44Q180,50,174,50H6Q0,50,0,44V6Q0,0,6,0Z";

  // Laid out in pixels on hidden axes that span the container exactly: columns are topological levels,
  // each column centred vertically; nodes are a scatter series (series 0, clickable), edges a lines series
  // running from the right side of the producer to the left side of the consumer, so arrows stay visible.
  function dagOption(dag) {
    const perColumn = new Map();
    for (const n of dag.nodes) perColumn.set(n.column, (perColumn.get(n.column) || 0) + 1);
    const rows = Math.max(1, ...perColumn.values());
    const height = Math.max(130, rows * ROW_GAP + 40);
    dagEl.style.height = `${height}px`;
    const width = dagEl.clientWidth || 800;
    const columns = Math.max(1, dag.columns);
    const gap = columns > 1 ? Math.min(COLUMN_GAP, (width - NODE[0] - 20) / (columns - 1)) : 0;
    const x0 = (width - (columns - 1) * gap) / 2;
    const at = new Map();
    const nodes = dag.nodes.map((n) => {
      const point = [x0 + n.column * gap, (height - (perColumn.get(n.column) - 1) * ROW_GAP) / 2 + n.row * ROW_GAP];
      at.set(n.name, point);
      return {
        name: n.name,
        value: point,
        url: n.url,
        status: n.status,
        kind: n.type,
        progress: n.progress ? n.progress.text : "",
        itemStyle: { color: Board.STATE_COLOURS[n.status] || Board.STATE_COLOURS.waiting },
      };
    });
    const half = NODE[0] / 2;
    const edges = dag.edges
      .filter((e) => at.has(e.source) && at.has(e.target))
      .map((e) => {
        const [sx, sy] = at.get(e.source);
        const [tx, ty] = at.get(e.target);
        return { coords: [[sx + half, sy], [tx - half - 1, ty]], lineStyle: { curveness: sy === ty ? 0 : 0.2 } };
      });
    const encode = echarts.format.encodeHTML;
    return {
      animation: false,
      grid: { left: 0, right: 0, top: 0, bottom: 0 },
      xAxis: { type: "value", min: 0, max: width, show: false },
      yAxis: { type: "value", min: 0, max: height, inverse: true, show: false },
      tooltip: {
        formatter: (p) => `${encode(p.data.name)}<br>${encode(p.data.kind)}: ${encode(p.data.status)}<br>click to open`,
      },
      series: [
        {
          type: "scatter",
          symbol: BOX,
          symbolSize: NODE,
          cursor: "pointer",
          z: 3,
          label: {
            show: true,
            position: "inside",
            color: "#fff",
            formatter: (p) =>
              `{name|${p.data.name}}\n{kind|${p.data.progress ? p.data.progress : `${p.data.kind} · ${p.data.status}`}}`,
            rich: { name: { fontWeight: "bold", fontSize: 13, lineHeight: 18 }, kind: { fontSize: 11, lineHeight: 15 } },
          },
          itemStyle: { opacity: 1 },
          emphasis: { scale: false, itemStyle: { shadowBlur: 12, shadowColor: "rgba(0,0,0,.3)" } },
          data: nodes,
        },
        {
          type: "lines",
          coordinateSystem: "cartesian2d",
          silent: true,
          z: 2,
          symbol: ["none", "arrow"],
          symbolSize: 10,
          lineStyle: { color: "#8793a6", width: 2, opacity: 1 },
          data: edges,
        },
      ],
    };
  }

  function drawDag(dag) {
    if (!chart) {
      chart = echarts.init(dagEl, null, { renderer: "canvas" });
      chart.on("click", (params) => {
        if (params.seriesIndex === 0 && params.data.url) location.href = params.data.url;
      });
      window.addEventListener("resize", () => {
        chart.resize();
        if (lastDag) chart.setOption(dagOption(lastDag), true);
      });
    }
    lastDag = dag;
    const option = dagOption(dag);
    chart.resize();
    chart.setOption(option, true);
  }

  function updateHeadline(items) {
    const list = document.getElementById("headline");
    const text = items.map((h) => `${h.label}${h.value}${h.component}`).join("|");
    if (list.dataset.key === text) return;
    list.dataset.key = text;
    list.replaceChildren(
      ...items.map((h) =>
        Board.el("li", {}, Board.el("span", { class: "label" }, h.label), " ", Board.el("b", {}, h.value), " ",
          Board.el("span", { class: "muted small" }, h.component)),
      ),
    );
    list.classList.toggle("hidden", !items.length);
  }

  document.getElementById("copy-config").addEventListener("click", async () => {
    const state = document.getElementById("copy-state");
    try {
      await navigator.clipboard.writeText(document.getElementById("config").textContent);
      state.textContent = "copied";
    } catch (error) {
      // No clipboard (an insecure origin): select the text so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("config"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      state.textContent = "selected: press Ctrl+C";
    }
  });

  function update(job) {
    updateHeadline(job.headline);
    Board.setBadge(document.getElementById("job-status"), job.status);
    const progress = document.getElementById("job-progress");
    if (progress.textContent !== job.progress) progress.textContent = job.progress;
    for (const field of ["started", "ended", "duration"]) {
      document.getElementById(`job-${field}`).textContent = job[field];
    }
    const reason = document.getElementById("job-reason");
    reason.textContent = job.reason;
    reason.classList.toggle("hidden", !job.reason || job.status === "success");
    document.getElementById("stop-form").classList.toggle("hidden", job.final);
    Board.updateTasks(document.getElementById("tasks"), job.tasks);
    drawDag(job.dag);
    // Tasks settle a moment after the job ends (processes are being killed): follow them a little longer.
    if (job.final && finalSince === null) finalSince = Date.now();
    const settled = job.tasks.every((t) => t.final);
    return !(job.final && (settled || Date.now() - finalSince > 30000));
  }

  const url = `/board/api/jobs/${encodeURIComponent(jobId)}`;
  const poller = Board.poll(async () => update(await Board.getJSON(url)), 2000);
  poller.now();
})();
