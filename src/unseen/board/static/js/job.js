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


  // Laid out in pixels on hidden axes that span the container exactly. Wide: columns are topological levels,
  // each column centred vertically, edges from the producer's right side to the consumer's left. Narrow (a
  // phone): levels are rows instead, top to bottom, boxes shrunk to share a row, edges from bottom to top.
  // Nodes are a scatter series (series 0, clickable), edges a lines series, so arrows stay visible.
  function dagOption(dag) {
    const perLevel = new Map();
    for (const n of dag.nodes) perLevel.set(n.column, (perLevel.get(n.column) || 0) + 1);
    const widest = Math.max(1, ...perLevel.values());
    const levels = Math.max(1, dag.columns);
    const width = dagEl.clientWidth || 800;
    const narrow = width < (levels - 1) * 150 + NODE[0] + 20 || width < 560;
    let size;
    let place;
    let height;
    if (narrow) {
      const boxW = Math.min(NODE[0], (width - 12 * (widest + 1)) / widest);
      size = [boxW, 46];
      const rowGap = 78;
      height = levels * rowGap + 10;
      place = (n) => {
        const count = perLevel.get(n.column);
        const gap = (width - count * boxW) / (count + 1);
        return [gap + boxW / 2 + n.row * (boxW + gap), 40 + n.column * rowGap];
      };
    } else {
      size = NODE;
      height = Math.max(130, widest * ROW_GAP + 40);
      const gap = levels > 1 ? Math.min(COLUMN_GAP, (width - NODE[0] - 20) / (levels - 1)) : 0;
      const x0 = (width - (levels - 1) * gap) / 2;
      place = (n) => [x0 + n.column * gap, (height - (perLevel.get(n.column) - 1) * ROW_GAP) / 2 + n.row * ROW_GAP];
    }
    dagEl.style.height = `${height}px`;
    const at = new Map();
    const nodes = dag.nodes.map((n, index) => {
      const point = place(n);
      at.set(n.name, point);
      const dark = n.status === "not-here";
      return {
        name: n.name,
        value: point,
        url: n.url,
        status: n.status,
        kind: n.type,
        index,
        progress: n.progress ? n.progress.text : "",
        itemStyle: { color: Board.STATE_COLOURS[n.status] || Board.STATE_COLOURS.waiting },
        label: { color: dark ? "#3d4656" : "#ffffff" },
      };
    });
    const [halfW, halfH] = [size[0] / 2, size[1] / 2];
    const edges = dag.edges
      .filter((e) => at.has(e.source) && at.has(e.target))
      .map((e) => {
        const [sx, sy] = at.get(e.source);
        const [tx, ty] = at.get(e.target);
        const coords = narrow ? [[sx, sy + halfH], [tx, ty - halfH - 1]] : [[sx + halfW, sy], [tx - halfW - 1, ty]];
        const straight = narrow ? sx === tx : sy === ty;
        return { coords, lineStyle: { curveness: straight ? 0 : 0.2 } };
      });
    const box = `path://M6,0H${size[0] - 6}Q${size[0]},0,${size[0]},6V${size[1] - 6}Q${size[0]},${size[1]},${size[0] - 6},${size[1]}H6Q0,${size[1]},0,${size[1] - 6}V6Q0,0,6,0Z`;
    return {
      animation: false,
      grid: { left: 0, right: 0, top: 0, bottom: 0 },
      xAxis: { type: "value", min: 0, max: width, show: false },
      yAxis: { type: "value", min: 0, max: height, inverse: true, show: false },
      // Drawn on the canvas (richText), not as HTML: ECharts' HTML tooltip box carries inline styles, which
      // the board's Content-Security-Policy refuses.
      tooltip: {
        renderMode: "richText",
        formatter: (p) =>
          `${p.data.name}\n${p.data.kind}: ${Board.label(p.data.status)}` +
          `${p.data.progress ? `\n${p.data.progress}` : ""}\nclick or Enter to open`,
      },
      series: [
        {
          type: "scatter",
          symbol: box,
          symbolSize: size,
          cursor: "pointer",
          z: 3,
          label: {
            show: true,
            position: "inside",
            width: size[0] - 10,
            overflow: "truncate",
            formatter: (p) =>
              `{name|${p.data.name}}\n{kind|${p.data.progress ? p.data.progress : `${p.data.kind} · ${Board.label(p.data.status)}`}}`,
            rich: {
              name: { fontWeight: "bold", fontSize: narrow ? 12 : 13, lineHeight: 18, width: size[0] - 10, overflow: "truncate" },
              kind: { fontSize: 11, lineHeight: 15, width: size[0] - 10, overflow: "truncate" },
            },
          },
          itemStyle: { opacity: 1 },
          emphasis: { scale: false, itemStyle: { shadowBlur: 12, shadowColor: "rgba(0,0,0,.45)", borderColor: "#111827", borderWidth: 2 } },
          data: nodes,
        },
        {
          type: "lines",
          coordinateSystem: "cartesian2d",
          silent: true,
          z: 2,
          symbol: ["none", "arrow"],
          symbolSize: 10,
          lineStyle: { color: "#6b778a", width: 2, opacity: 1 },
          data: edges,
        },
      ],
    };
  }

  // The keyboard: with the DAG focused, arrows move between components (in the list's order), Enter opens one.
  let focused = -1;
  dagEl.addEventListener("keydown", (event) => {
    if (!chart || !lastDag || !lastDag.nodes.length) return;
    const count = lastDag.nodes.length;
    const forward = ["ArrowRight", "ArrowDown"].includes(event.key);
    const back = ["ArrowLeft", "ArrowUp"].includes(event.key);
    if (forward || back) {
      event.preventDefault();
      if (focused >= 0) chart.dispatchAction({ type: "downplay", seriesIndex: 0, dataIndex: focused });
      focused = focused < 0 ? 0 : (focused + (forward ? 1 : count - 1)) % count;
      chart.dispatchAction({ type: "highlight", seriesIndex: 0, dataIndex: focused });
      chart.dispatchAction({ type: "showTip", seriesIndex: 0, dataIndex: focused });
      dagEl.setAttribute("aria-label", `${lastDag.nodes[focused].name}: ${Board.label(lastDag.nodes[focused].status)}. Enter opens it.`);
    } else if (event.key === "Enter" && focused >= 0) {
      location.href = lastDag.nodes[focused].url;
    }
  });

  function updateList(dag) {
    for (const n of dag.nodes) {
      const item = document.querySelector(`#dag-list li[data-component="${CSS.escape(n.name)}"] .state`);
      if (item && item.firstElementChild?.dataset.status !== n.status) Board.setBadge(item, n.status);
    }
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
    // A successful job's reason names the tasks it did without (a lost worker): a notice, not an alert.
    reason.classList.toggle("hidden", !job.reason);
    reason.classList.toggle("notice", job.status === "success");
    reason.classList.toggle("alert", job.status !== "success");
    document.getElementById("stop-form").classList.toggle("hidden", job.final);
    Board.updateTasks(document.getElementById("tasks"), job.tasks);
    drawDag(job.dag);
    updateList(job.dag);
    // Tasks settle a moment after the job ends (processes are being killed): follow them a little longer.
    if (job.final && finalSince === null) finalSince = Date.now();
    const settled = job.tasks.every((t) => t.final);
    return !(job.final && (settled || Date.now() - finalSince > 30000));
  }

  // The page carries its first state, so the DAG is drawn at once; the polls that follow keep it fresh.
  const url = `/board/api/jobs/${encodeURIComponent(jobId)}`;
  const poller = Board.poll(async () => update(await Board.getJSON(url)), 2000);
  if (update(JSON.parse(page.dataset.initial))) poller.now();
  else poller.stop();
})();
