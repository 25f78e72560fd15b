// The model selector (GET /api/models): shown when the server offers more than one model, or
// watches a folder of run folders (serve --runs DIR), where a model fine-tuned while the page
// is open appears without a reload (the list is asked for again on focus, and every few
// seconds while the page is visible). The chosen model answers the page's requests
// (?model=NAME); the default one is asked with no query at all, as before.
"use strict";

(function modelChoice() {
  const byId = (id) => document.getElementById(id);
  const select = byId("model-select");
  const REFRESH_MS = 5000;
  let chosen = null;       // null: the server's default
  let defaultName = null;
  let timer = null;

  // `query` ("" or "?a=b...") with the chosen model added; unchanged for the default.
  function query(q) {
    if (chosen === null) return q;
    return q + (q ? "&" : "?") + "model=" + encodeURIComponent(chosen);
  }

  function option(model) {
    const item = document.createElement("option");
    item.value = model.name;
    item.textContent = model.name + (model.default ? " (default)" : "");
    return item;
  }

  async function refresh() {
    let listing;
    try {
      listing = await (await fetch("/api/models")).json();
    } catch (error) {
      return;  // the page's own requests say what is wrong
    }
    if (!listing || !Array.isArray(listing.models)) return;
    defaultName = listing.default;
    const names = listing.models.map((m) => m.name);
    const shown = Array.from(select.options).map((o) => o.value);
    if (shown.join("\n") !== names.join("\n")) {  // rebuilt only when it changed
      const current = chosen === null ? defaultName : chosen;
      select.replaceChildren(...listing.models.map(option));
      if (names.includes(current)) select.value = current;
      else choose(defaultName);  // the chosen model's folder has gone
    }
    byId("model-choice").hidden = !(names.length > 1 || listing.watching);
    if (listing.watching && timer === null) {
      timer = setInterval(() => {
        if (document.visibilityState === "visible") refresh();
      }, REFRESH_MS);
    }
  }

  // Switch: the model's facts above, and the drawing on the pad asked again.
  function choose(name) {
    chosen = name === defaultName ? null : name;
    select.value = name;
    if (typeof loadModel === "function") loadModel();
    if (typeof hasInk !== "undefined" && hasInk && typeof schedule === "function") schedule();
  }

  select.addEventListener("change", () => choose(select.value));
  select.addEventListener("focus", refresh);
  window.models = { query, refresh };
  refresh();
})();
