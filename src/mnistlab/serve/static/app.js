// The drawing page: pointer events (mouse, pen and touch alike), debounced live prediction.
"use strict";

const DEBOUNCE_MS = 150;  // wait for a pause in drawing before asking the server
const LINE_WIDTH = 22;    // on the 280 px canvas: strokes about as thick as MNIST's

const canvas = document.getElementById("pad");
const $ = (id) => document.getElementById(id);

let hasInk = false;
let timer = null;
let inFlight = false;
let again = false;     // the drawing changed while a request was out: ask once more after it
let generation = 0;    // bumped by Clear, so a late answer for an old drawing is dropped
let currentLabels = null;  // the model's class names, for the best guess

// Drawing with pointer events on a canvas; `onChange` runs after every stroke segment.
function attachDrawing(target, lineWidth, onChange) {
  const context = target.getContext("2d");
  let down = false;
  function reset() {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, target.width, target.height);
    context.strokeStyle = "#000";
    context.lineWidth = lineWidth;
    context.lineCap = "round";
    context.lineJoin = "round";
  }
  function at(event) {
    const rect = target.getBoundingClientRect();
    return [(event.clientX - rect.left) * target.width / rect.width,
            (event.clientY - rect.top) * target.height / rect.height];
  }
  target.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    target.setPointerCapture(event.pointerId);
    down = true;
    const [x, y] = at(event);
    context.beginPath();
    context.moveTo(x, y);
    context.lineTo(x, y);  // a tap leaves a dot
    context.stroke();
    onChange();
  });
  target.addEventListener("pointermove", (event) => {
    if (!down) return;
    // Coalesced events keep fast strokes smooth where the browser batches pointer moves.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of (events.length ? events : [event])) {
      const [x, y] = at(e);
      context.lineTo(x, y);
    }
    context.stroke();
    onChange();
  });
  const end = () => { if (down) { down = false; onChange(); } };
  target.addEventListener("pointerup", end);
  target.addEventListener("pointercancel", end);
  return reset;
}

const resetCanvas = attachDrawing(canvas, LINE_WIDTH, () => { hasInk = true; schedule(); });

// POST a canvas as the page sends it (JSON with a PNG data URL): the answer, or an Error with
// the server's message for a refused request, or "cannot reach the server".
async function postCanvas(url, target) {
  let response, body;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: target.toDataURL("image/png") }),
    });
    body = await response.json();
  } catch (error) {
    throw new Error("cannot reach the server (" + error.message + ")");
  }
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

function setBusy() {
  document.body.dataset.busy = String(inFlight || timer !== null);
}

function schedule() {
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(() => { timer = null; predict(); }, DEBOUNCE_MS);
  setBusy();
}

async function predict() {
  if (!hasInk) { setBusy(); return; }
  if (inFlight) { again = true; return; }
  inFlight = true;
  setBusy();
  const mine = generation;
  try {
    // why.js adds ?explain=true while its toggle is on, models.js the model chosen
    const query = withModel(window.explaining ? window.explaining.query() : "");
    const body = await postCanvas("/api/predict" + query, canvas);
    if (mine === generation) show(body);
  } catch (error) {
    if (mine === generation) showError(error.message);
  } finally {
    inFlight = false;
    if (again) { again = false; predict(); }
    setBusy();
  }
}

// Every answer fills the same boxes (index.html reserves them), so nothing below them moves.
function show(result) {
  if (window.explaining) window.explaining.show(result);
  const status = $("status");
  status.classList.remove("error");
  if (result.digit === null) {
    $("digit").textContent = "?";
    const hasGuess = result.guess !== null && result.guess !== undefined;
    if (hasGuess) {
      // the model refused it (not a digit, or too unlike one): say so, its best guess greyed
      $("confidence").textContent = "not sure";
      showGuess(result);
    } else {
      // blank: no ink to read
      $("confidence").textContent = "no digit";
      showGuess(null);
    }
    status.textContent = result.reason || result.message || "no digit found";
    drawBars(result.probabilities || null, null);
    showPreview(result.preview_png_base64);
    return;
  }
  $("digit").textContent = result.label;
  $("confidence").textContent = (100 * result.confidence).toFixed(1) + "% sure";
  showGuess(null);
  status.textContent = "";
  drawBars(result.probabilities, result.digit);
  showPreview(result.preview_png_base64);
}

// The class the model would have picked, greyed beside "not sure"; null hides it.
function showGuess(result) {
  const guess = $("guess");
  if (result === null) {
    guess.textContent = "";
    guess.hidden = true;
    return;
  }
  const label = Array.isArray(currentLabels) ? currentLabels[result.guess] : undefined;
  guess.textContent = "best guess " + (label === undefined ? result.guess : label);
  guess.hidden = false;
}

function showPreview(base64) {
  const preview = $("preview");
  if (base64) preview.src = "data:image/png;base64," + base64;
  else preview.removeAttribute("src");
  preview.hidden = !base64;
}

// A refused request or no server: the message, and no answer from an older drawing beside it.
function showError(message) {
  if (window.explaining) window.explaining.show(null);
  $("digit").innerHTML = "&nbsp;";
  $("confidence").innerHTML = "&nbsp;";
  showGuess(null);
  drawBars(null, null);
  showPreview(null);
  $("status").textContent = message;
  $("status").classList.add("error");
}

function drawBars(probabilities, best) {
  for (let d = 0; d < 10; d++) {
    const row = $("bar-" + d);
    const p = probabilities ? probabilities[d] : 0;
    row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
    row.querySelector(".pct").textContent = probabilities ? (100 * p).toFixed(1) + "%" : "";
    row.classList.toggle("top", d === best);
  }
}

function buildBars(labels) {
  currentLabels = labels;
  const list = $("bars");
  list.replaceChildren();
  labels.forEach((label, d) => {
    const row = document.createElement("li");
    row.id = "bar-" + d;
    const name = document.createElement("span");
    name.textContent = label;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    track.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    row.append(name, track, pct);
    list.append(row);
  });
}

function clearAll() {
  generation += 1;
  if (timer !== null) { clearTimeout(timer); timer = null; }
  again = false;
  hasInk = false;
  resetCanvas();
  $("digit").innerHTML = "&nbsp;";
  $("confidence").innerHTML = "&nbsp;";
  showGuess(null);
  $("status").classList.remove("error");
  $("status").textContent = "Draw in the box; the prediction follows as you draw.";
  showPreview(null);
  drawBars(null, null);
  if (window.explaining) window.explaining.show(null);
  setBusy();
}

$("clear").addEventListener("click", clearAll);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") clearAll();
});

// `query` with the model chosen on the page (models.js); unchanged for the default model.
function withModel(query) {
  return window.models ? window.models.query(query) : query;
}

let modelAsked = 0;  // a switch while the facts of the model before are on their way

async function loadModel() {
  const mine = ++modelAsked;
  try {
    const info = await (await fetch("/api/model" + withModel(""))).json();
    if (mine !== modelAsked) return;
    const acc = typeof info.test_acc === "number"
      ? ", test accuracy " + (100 * info.test_acc).toFixed(2) + "%" : "";
    // the network, and the name it is served under where that differs ("lenet5 (me)")
    const name = info.name && info.name !== info.model ? " (" + info.name + ")" : "";
    $("model-info").textContent = "model: " + info.model + name + acc;
    if (Array.isArray(info.classes) && info.classes.length === 10) buildBars(info.classes);
  } catch (error) {
    $("model-info").textContent = "model information unavailable";
  }
}

buildBars(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
clearAll();
loadModel();
