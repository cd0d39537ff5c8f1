// Shared by every board page: JSON fetching (a lost session goes back to the login page), DOM building
// that only ever sets text (never HTML, so job names and log lines cannot inject markup), polling that
// slows down in background tabs, and a confirmation for dangerous forms. No inline scripts: the board's
// Content-Security-Policy allows scripts from its own origin only.
"use strict";

const Board = (() => {
  // Keep in step with the --s-* colours in board.css.
  const STATE_COLOURS = {
    waiting: "#5b6576",
    running: "#2563eb",
    success: "#15803d",
    failed: "#dc2626",
    canceled: "#b45309",
    timeout: "#7c3aed",
    "not-here": "#e3e8ef", // a component that never runs at this party (views.ELSEWHERE); dark text on it
  };

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) {
      location.href = "/board/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("the session ended");
    }
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  // el("a", {href: "/x", class: "y"}, "text", otherNode): attributes and text only, never innerHTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A state as people read it: "not-here" (views.ELSEWHERE) is shown as "not here".
  const label = (status) => status.replace(/-/g, " ");

  function badge(status) {
    return el("span", { class: `badge s-${status}`, "data-status": status }, label(status));
  }

  function setBadge(container, status) {
    if (container) container.replaceChildren(badge(status));
  }

  // Runs `task` every `ms` (slower while the tab is hidden) until it returns false; `now()` runs it at once.
  function poll(task, ms) {
    let timer = null;
    let running = false;
    let again = false;
    let stopped = false;
    async function tick() {
      clearTimeout(timer);
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      let keep = true;
      try {
        keep = (await task()) !== false;
      } catch (error) {
        console.warn(error);
      }
      running = false;
      if (!keep) {
        stopped = true;
        return;
      }
      if (again) {
        again = false;
        tick();
        return;
      }
      timer = setTimeout(tick, document.hidden ? ms * 4 : ms);
    }
    timer = setTimeout(tick, ms);
    return {
      now: tick,
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  function clock() {
    return new Date().toLocaleTimeString();
  }

  // Update the rows of a tasks table (macros.html) in place from task views.
  function updateTasks(container, tasks) {
    if (!container) return;
    const byKey = new Map(tasks.map((t) => [`${t.component}|${t.role}|${t.party_id}`, t]));
    for (const row of container.querySelectorAll("tr[data-task]")) {
      const task = byKey.get(row.dataset.task);
      if (!task) continue;
      for (const cell of row.querySelectorAll("td[data-field]")) {
        const field = cell.dataset.field;
        if (field === "status") {
          if (cell.firstElementChild?.dataset.status !== task.status) setBadge(cell, task.status);
        } else {
          const value = task[field] === null || task[field] === undefined ? "" : String(task[field]);
          if (cell.textContent !== value) cell.textContent = value;
        }
      }
    }
  }

  // <form data-confirm="..."> asks before submitting (the stop button).
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset?.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  return { STATE_COLOURS, label, getJSON, el, badge, setBadge, poll, clock, updateTasks };
})();
