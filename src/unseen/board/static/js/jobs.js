// The jobs page: re-reads /board/api/jobs every 2 s so states, durations and new jobs appear without a
// reload; the state chips and the search box filter on the server and keep the URL shareable.
"use strict";

(() => {
  const tbody = document.querySelector("#jobs tbody");
  const search = document.getElementById("search");
  const stateInput = document.getElementById("state");
  const chips = document.getElementById("chips");
  const updated = document.getElementById("updated");
  const el = Board.el;

  function row(job) {
    const name = el("td", {}, job.name);
    if (job.reason && job.status !== "success") name.append(el("div", { class: "reason small" }, job.reason));
    const initiator = el("td", {}, String(job.initiator_party));
    if (job.is_initiator) initiator.append(" ", el("span", { class: "muted" }, "(here)"));
    return el(
      "tr",
      { "data-job": job.job_id },
      el("td", {}, el("a", { class: "mono", href: job.url }, job.job_id)),
      name,
      el("td", {}, Board.badge(job.status)),
      el("td", {}, job.parties_text),
      initiator,
      el("td", {}, job.started || job.created),
      el("td", {}, job.duration),
    );
  }

  function query() {
    const params = new URLSearchParams();
    if (stateInput.value) params.set("state", stateInput.value);
    if (search.value.trim()) params.set("q", search.value.trim());
    return params;
  }

  function render(data) {
    const rows = data.jobs.map(row);
    if (!rows.length) {
      const filtered = stateInput.value || search.value.trim();
      rows.push(el("tr", {}, el("td", { colspan: 7, class: "empty" }, filtered ? "No jobs match." : "No jobs yet.")));
    }
    tbody.replaceChildren(...rows);
    for (const chip of chips.querySelectorAll(".chip")) {
      const state = chip.dataset.state;
      chip.classList.toggle("active", state === stateInput.value);
      chip.querySelector(".count").textContent = data.counts[state || "all"];
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
    stateInput.value = chip.dataset.state;
    poller.now();
  });
  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(poller.now, 250);
  });
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    poller.now();
  });
  poller.now();
})();
