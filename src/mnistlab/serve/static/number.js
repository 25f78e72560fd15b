// The number pad: a wide canvas read by POST /api/read, with the boxes it found drawn over it.
// Uses attachDrawing() and postCanvas() from app.js (loaded first).
"use strict";

(() => {
  const wide = document.getElementById("number-pad");
  const boxes = document.getElementById("number-boxes");
  const byId = (id) => document.getElementById(id);
  let pending = null, busy = false, redo = false, round = 0, inked = false;

  const reset = attachDrawing(wide, 14, () => {
    inked = true;
    if (pending !== null) clearTimeout(pending);
    pending = setTimeout(() => { pending = null; read(); }, 250);
  });

  async function read() {
    if (!inked) return;
    if (busy) { redo = true; return; }
    busy = true;
    const mine = round;
    try {
      const body = await postCanvas("/api/read" + withModel(""), wide);
      if (mine === round) showNumber(body);
    } catch (error) {
      if (mine === round) {
        // no number from an older drawing beside the message
        boxes.getContext("2d").clearRect(0, 0, boxes.width, boxes.height);
        byId("number").innerHTML = "&nbsp;";
        say(error.message, true);
      }
    } finally {
      busy = false;
      if (redo) { redo = false; read(); }
    }
  }

  function say(text, isError) {
    byId("number-status").textContent = text;
    byId("number-status").classList.toggle("error", Boolean(isError));
  }

  function showNumber(result) {
    const context = boxes.getContext("2d");
    context.clearRect(0, 0, boxes.width, boxes.height);
    if (result.number === null) {
      byId("number").textContent = "?";
      say(result.message || "no number found");
      return;
    }
    byId("number").textContent = result.number;
    const doubtful = result.digits.filter((d) => d.digit === null).length;
    // not sure of the whole (its signs, say) though of every digit: the reason says why
    say(doubtful ? "not sure of " + doubtful + " of the digits (boxed in red)"
      : result.sure === false ? "not sure: " + result.reason : "");
    context.lineWidth = 2;
    context.font = "14px system-ui, sans-serif";
    for (const d of result.digits) {
      const [left, top, right, bottom] = d.box;
      context.strokeStyle = d.digit === null ? "#b3261e" : "#2f6fde";
      context.strokeRect(left, top, right - left, bottom - top);
      context.fillStyle = context.strokeStyle;
      const label = d.digit === null ? d.guess + "? not sure"
        : d.digit + " " + Math.round(100 * d.confidence) + "%";
      context.fillText(label, left, Math.max(12, top - 4));
    }
    context.strokeStyle = context.fillStyle = "#6b6b6b";  // a minus sign, a decimal point, a colon
    for (const s of result.signs || []) {
      const [left, top, right, bottom] = s.box;
      context.strokeRect(left, top, right - left, bottom - top);
      context.fillText(s.sign, left, Math.max(12, top - 4));
    }
  }

  function clearNumber() {
    round += 1;
    if (pending !== null) { clearTimeout(pending); pending = null; }
    redo = false;
    inked = false;
    reset();
    boxes.getContext("2d").clearRect(0, 0, boxes.width, boxes.height);
    byId("number").innerHTML = "&nbsp;";
    say("Write a number on one line; it is read as you write.");
  }

  byId("number-clear").addEventListener("click", clearNumber);
  clearNumber();
})();
