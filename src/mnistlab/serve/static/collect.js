// `serve --collect DIR` only: "wrong? it is _" and "save as _" store the drawing with its
// label (POST /api/collect), for a personal model (`mnistlab finetune MODEL DIR`). Kept apart
// from app.js: it reads the page's answer from the DOM and touches nothing else.
"use strict";

(function collectControls() {
  const byId = (id) => document.getElementById(id);
  const pad = byId("pad");

  // The 28x28 digit the model saw, from the preview image, as 784 values (null: none shown).
  function previewPixels() {
    const img = byId("preview");
    if (img.hidden || !img.complete || !img.naturalWidth) return null;
    const scratch = document.createElement("canvas");
    scratch.width = 28;
    scratch.height = 28;
    const context = scratch.getContext("2d");
    context.drawImage(img, 0, 0, 28, 28);
    const rgba = context.getImageData(0, 0, 28, 28).data;
    const values = [];
    for (let i = 0; i < rgba.length; i += 4) values.push(rgba[i]);
    return values;
  }

  // The page's current answer as a digit 0-9, or null (blank, not sure, an error).
  function answered() {
    const text = byId("digit").textContent.trim();
    return /^[0-9]$/.test(text) ? Number(text) : null;
  }

  async function save(label) {
    const status = byId("collect-status");
    const body = { label: label, image: pad.toDataURL("image/png") };
    const pixels = previewPixels();
    if (pixels !== null) body.pixels = pixels;
    try {
      const response = await fetch("/api/collect", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.message || response.statusText);
      status.textContent = "saved as " + label + " (" + answer.count + " so far)";
      status.classList.remove("error");
    } catch (error) {
      status.textContent = "not saved: " + error.message;
      status.classList.add("error");
    }
  }

  function build() {
    const digits = byId("collect-digits");
    for (let d = 0; d <= 9; d += 1) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(d);
      button.dataset.label = String(d);
      button.addEventListener("click", () => save(d));
      digits.append(button);
    }
    const confirm = byId("collect-save");
    confirm.addEventListener("click", () => {
      const label = answered();
      if (label !== null) save(label);
    });
    // "save as _" follows the answer: enabled only while the page shows a digit
    new MutationObserver(() => {
      const label = answered();
      confirm.disabled = label === null;
      confirm.textContent = "save as " + (label === null ? "_" : label);
    }).observe(byId("digit"), { childList: true, characterData: true, subtree: true });
    byId("collect").hidden = false;
  }

  fetch("/api/model")
    .then((response) => response.json())
    .then((info) => { if (info.collect === true) build(); })
    .catch(() => {});
})();
