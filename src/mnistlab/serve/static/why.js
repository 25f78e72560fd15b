// "why?": beside the answer, the nearest training digits and the saliency over the 28x28 image.
// Off by default; while off, the page asks the server for nothing more (no ?explain=true).
// app.js calls window.explaining.query() for each request and .show(result) for each answer
// (not window.why: the panel's id="why" already names that).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const toggle = $("why-toggle");
  const panel = $("why");
  let on = false;

  function png(base64) { return "data:image/png;base64," + base64; }

  function neighbourItem(neighbour) {
    const item = document.createElement("li");
    const image = document.createElement("img");
    image.src = png(neighbour.image_png_base64);
    image.alt = "training digit " + neighbour.label;
    image.width = 48;
    image.height = 48;
    const caption = document.createElement("div");
    caption.className = "why-caption";
    caption.textContent = neighbour.label + " \u00b7 " + neighbour.similarity.toFixed(2);
    caption.title = "a training " + neighbour.label + ", cosine similarity "
      + neighbour.similarity.toFixed(3) + " to your digit, as the model sees them";
    item.append(image, caption);
    return item;
  }

  // An answer (null: none, e.g. cleared or an error): fill the panel from its explanation.
  function show(result) {
    const explanation = result ? result.explanation : null;
    const heatmap = $("why-heatmap");
    const list = $("why-neighbours");
    if (!on || !explanation) {
      heatmap.hidden = true;
      heatmap.removeAttribute("src");
      list.replaceChildren();
      $("why-note").innerHTML = on && result && result.digit === null && result.guess == null
        ? "no digit to explain" : "&nbsp;";
      return;
    }
    heatmap.src = png(explanation.saliency_png_base64);
    heatmap.hidden = false;
    list.replaceChildren(...explanation.neighbours.map(neighbourItem));
    const guessed = result.digit === null ? " (for the best guess " + explanation.explained + ")" : "";
    $("why-note").textContent = explanation.note || ("saliency by "
      + explanation.method.replaceAll("_", " ") + guessed);
  }

  function setOn(value) {
    on = value;
    toggle.setAttribute("aria-pressed", String(on));
    panel.hidden = !on;
    show(null);
    // ask again for the drawing on the pad, now with (or without) its explanation
    if (typeof schedule === "function" && typeof hasInk !== "undefined" && hasInk) schedule();
  }

  toggle.addEventListener("click", () => setOn(!on));
  window.explaining = { query: () => (on ? "?explain=true" : ""), show };
})();
