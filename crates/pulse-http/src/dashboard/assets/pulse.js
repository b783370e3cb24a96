// Pulse dashboard: what the pages do better with JavaScript. Every page works without it.
"use strict";

// Live progress: an element with data-progress-url is refreshed from that URL every second
// until the work is done. The URL answers {"done": n, "total": n, "finished": bool, "summary": "..."}.
function follow(element) {
  const url = element.dataset.progressUrl;
  const bar = element.querySelector("progress");
  const percent = element.querySelector(".percent");
  const summary = element.querySelector("[data-summary]");
  const tick = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const state = await response.json();
      bar.max = Math.max(state.total, 1);
      bar.value = state.done;
      percent.textContent = (state.total === 0 ? 100 : Math.floor((state.done * 100) / state.total)) + "%";
      if (summary) summary.textContent = state.summary;
      if (state.finished) {
        element.dataset.finished = "true";
        return;
      }
    } catch (_) {
      // A missed tick is retried on the next one.
    }
    setTimeout(tick, 1000);
  };
  tick();
}

// Copy buttons: copy the text of the element named by data-copy.
function copier(button) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-progress-url]").forEach(follow);
  document.querySelectorAll("button[data-copy]").forEach(copier);
});
