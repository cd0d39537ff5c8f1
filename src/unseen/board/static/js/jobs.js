// The jobs page: re-reads /board/api/jobs every 2 s and updates the table IN PLACE: a row whose job did not
// change is not touched, a changed cell gets new text, rows are added, removed or moved only when the page's
// jobs change. So keyboard focus and a text selection survive the refresh. The chips, search box, sortable
// headers and pager ask the server (the list is paged and sorted in the database) and keep the URL shareable.
"use strict";

(() => {
  const tbody = document.querySelector("#jobs tbody");
  const search = document.getElementById("search");
  const inputs = {
    state: document.getElementById("state"),
    sort: document.getElementById("sort"),
    order: document.getElementById("order"),
    page: document.getElementById("page-number"),
  };
  const chips = document.getElementById("chips");
  const updated = document.getElementById("updated");
  const el = Board.el;
  const COLUMNS = 9;

  // Each cell's content as [text key, builder]: the key decides whether the cell must be rebuilt.
  const CELLS = {
    job: (j) => [j.job_id, () => [el("a", { class: "mono", href: j.url }, j.job_id)]],
    name: (j) => {
      const reason = j.reason && j.status !== "success" ? j.reason : "";
      return [`${j.name}\u0000${reason}`, () => [j.name, reason ? el("div", { class: "reason small" }, reason) : null]];
    },
    status: (j) => [
      `${j.status}\u0000${j.progress}`,
      () => [Board.badge(j.status), el("div", { class: "progress-text small" }, j.progress)],
    ],
    my_roles: (j) => [j.my_roles, () => [j.my_roles]],
    parties_text: (j) => [j.parties_text, () => [j.parties_text]],
    initiator: (j) => [
      `${j.initiator_party}${j.is_initiator}`,
      () => [String(j.initiator_party), j.is_initiator ? " " : null, j.is_initiator ? el("span", { class: "muted" }, "(here)") : null],
    ],
    started: (j) => [j.started || j.created, () => [j.started || j.created]],
    ended: (j) => [j.ended, () => [j.ended]],
    duration: (j) => [j.duration, () => [j.duration]],
  };

  // Rebuilt only when its content changed (the server-rendered cells are compared by their text once).
  function fill(cell, key, build) {
    if (cell.dataset.key === key) return;
    const children = build().filter((c) => c !== null && c !== undefined);
    const fresh = children.map((c) => (c instanceof Node ? c.textContent : String(c))).join("");
    if (cell.dataset.key !== undefined || cell.textContent.replace(/\s+/g, " ").trim() !== fresh.replace(/\s+/g, " ").trim()) {
      cell.replaceChildren(...children);
    }
    cell.dataset.key = key;
  }

  function rowFor(job) {
    let row = tbody.querySelector(`tr[data-job="${CSS.escape(job.job_id)}"]`);
    if (!row) {
      row = el("tr", { "data-job": job.job_id });
      for (const field of Object.keys(CELLS)) row.append(el("td", { "data-field": field }));
    }
    for (const cell of row.children) {
      const [key, build] = CELLS[cell.dataset.field](job);
      fill(cell, key, build);
    }
    return row;
  }

  function query() {
    const params = new URLSearchParams();
    if (inputs.state.value) params.set("state", inputs.state.value);
    if (search.value.trim()) params.set("q", search.value.trim());
    if (inputs.sort.value && inputs.sort.value !== "created") params.set("sort", inputs.sort.value);
    if (inputs.order.value === "asc") params.set("order", "asc");
    if (Number(inputs.page.value) > 1) params.set("page", inputs.page.value);
    return params;
  }

  function render(data) {
    const wanted = data.jobs.map(rowFor);
    for (const row of [...tbody.rows]) if (!wanted.includes(row)) row.remove();
    if (!wanted.length) {
      const filtered = inputs.state.value || search.value.trim();
      tbody.append(el("tr", { class: "none" }, el("td", { colspan: COLUMNS, class: "empty" }, filtered ? "No jobs match." : "No jobs yet.")));
    }
    // Move rows only where the order changed: an untouched row keeps focus and selection.
    wanted.forEach((row, i) => {
      if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] || null);
    });
    for (const chip of chips.querySelectorAll(".chip")) {
      const state = chip.dataset.state;
      chip.classList.toggle("active", state === inputs.state.value);
      const count = chip.querySelector(".count");
      const text = String(data.counts[state || "all"]);
      if (count.textContent !== text) count.textContent = text;
    }
    for (const th of document.querySelectorAll("#jobs th[data-sort]")) {
      const active = th.dataset.sort === data.sort;
      th.setAttribute("aria-sort", active ? (data.order === "desc" ? "descending" : "ascending") : "none");
      th.querySelector("a").classList.toggle("active", active);
      th.querySelector(".arrow").textContent = active ? (data.order === "desc" ? "▾" : "▴") : "";
    }
    inputs.page.value = data.page;
    document.getElementById("range").textContent = data.range;
    document.getElementById("page-of").textContent = `${data.page} of ${data.pages}`;
    for (const [id, disabled] of [["prev", data.page <= 1], ["next", data.page >= data.pages]]) {
      const link = document.getElementById(id);
      link.classList.toggle("disabled", disabled);
      link.setAttribute("aria-disabled", String(disabled));
    }
    updated.textContent = `live · updated ${Board.clock()}`;
  }

  async function refresh() {
    const params = query();
    const suffix = params.toString() ? `?${params}` : "";
    history.replaceState(null, "", `/board/jobs${suffix}`);
    render(await Board.getJSON(`/board/api/jobs${suffix}`));
  }

  const poller = Board.poll(refresh, 2000);
  chips.addEventListener("click", (event) => {
    const chip = event.target.closest(".chip");
    if (!chip) return;
    event.preventDefault();
    inputs.state.value = chip.dataset.state;
    inputs.page.value = 1;
    poller.now();
  });
  document.querySelector("#jobs thead").addEventListener("click", (event) => {
    const th = event.target.closest("th[data-sort]");
    if (!th) return;
    event.preventDefault();
    const same = inputs.sort.value === th.dataset.sort;
    inputs.order.value = same && inputs.order.value === "desc" ? "asc" : "desc";
    inputs.sort.value = th.dataset.sort;
    inputs.page.value = 1;
    poller.now();
  });
  document.getElementById("pager").addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (!link) return;
    event.preventDefault();
    if (link.classList.contains("disabled")) return;
    inputs.page.value = Math.max(1, Number(inputs.page.value) + (link.id === "next" ? 1 : -1));
    poller.now();
  });
  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    inputs.page.value = 1;
    debounce = setTimeout(poller.now, 250);
  });
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    poller.now();
  });
  poller.now();
})();
