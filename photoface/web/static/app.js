// photoface serve: the page scripts. No framework, no build step; every change is a JSON POST
// with the page's CSRF token, and the server answers with what changed (or a one-line error).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const message = document.getElementById("message");

function say(text, isError = true) {
  message.textContent = text;  // text, never HTML: names and errors can hold anything
  message.className = isError ? "error" : "ok";
  message.hidden = false;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = {};
  try { data = await response.json(); } catch (_) { data = { error: `${response.status} ${response.statusText}` }; }
  data.status = response.status;
  return data;
}

function placeBoxes(root = document) {
  // Positions come as data attributes: the Content-Security-Policy allows no inline styles.
  for (const el of root.querySelectorAll("[data-aspect]")) el.style.aspectRatio = el.dataset.aspect;
  for (const el of root.querySelectorAll("[data-left]")) {
    el.style.left = el.dataset.left + "%";
    el.style.top = el.dataset.top + "%";
    el.style.width = el.dataset.width + "%";
    if (el.dataset.height) el.style.height = el.dataset.height + "%";
  }
}

function typing(event) {
  const tag = event.target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey;
}

// ------------------------------------------------------------------ naming (people, person)
async function nameIt(input, person, merge = false) {
  const name = input.value.trim();
  if (!name) { say("Type a name first."); return; }
  const data = await post(`/api/people/${person}/name`, { name, merge });
  if (data.status === 409 && data.owner) {
    say(`${data.owner_name} is already person ${data.owner}. `);
    const button = document.createElement("button");
    button.type = "button";
    button.id = "confirm-merge";
    button.textContent = `Merge into ${data.owner_name}`;
    button.addEventListener("click", () => nameIt(input, person, true));
    message.append(button);
    return;
  }
  if (data.error) { say(data.error); return; }
  location.reload();
}

for (const input of document.querySelectorAll(".name-box")) {
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const person = input.dataset.person || input.closest("[data-person]").dataset.person;
    nameIt(input, person);
  });
}

// ------------------------------------------------------------------ people page
const mergeButton = document.getElementById("merge");
if (mergeButton) {
  const picked = () => [...document.querySelectorAll(".pick-box:checked")].map((box) => Number(box.value));
  document.addEventListener("change", () => { mergeButton.disabled = picked().length < 2; });
  mergeButton.addEventListener("click", async () => {
    const data = await post("/api/people/merge", { people: picked() });
    if (data.error) { say(data.error); return; }
    location.reload();
  });
  for (const button of document.querySelectorAll(".card .ignore")) {
    button.addEventListener("click", async () => {
      const data = await post(`/api/people/${button.closest(".card").dataset.person}/ignore`, {});
      if (data.error) { say(data.error); return; }
      location.reload();
    });
  }
}

// ------------------------------------------------------------------ face grids (person, unassigned)
const grid = document.getElementById("faces");
const actions = document.getElementById("face-actions");
if (grid && actions) {
  const tiles = () => [...grid.querySelectorAll(".tile")];
  const selected = () => tiles().filter((t) => t.classList.contains("selected")).map((t) => Number(t.dataset.face));
  const pagePerson = actions.dataset.person ? Number(actions.dataset.person) : null;
  let anchor = null;

  const update = () => { document.getElementById("selected-count").textContent = `${selected().length} selected`; };
  const toggle = (tile, on = !tile.classList.contains("selected")) => {
    tile.classList.toggle("selected", on);
    tile.setAttribute("aria-selected", on ? "true" : "false");
  };

  grid.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;  // the photo link
    const tile = event.target.closest(".tile");
    if (!tile) return;
    const all = tiles();
    if (event.shiftKey && anchor) {
      const [a, b] = [all.indexOf(anchor), all.indexOf(tile)].sort((x, y) => x - y);
      all.slice(a, b + 1).forEach((t) => toggle(t, true));
    } else {
      toggle(tile);
      anchor = tile;
    }
    update();
  });

  const act = async (url, body) => {
    const faces = selected();
    if (!faces.length) { say("Select faces first (click them)."); return; }
    const data = await post(url, { faces, ...body });
    if (data.error) { say(data.error); return; }
    location.reload();
  };
  const reject = document.getElementById("reject");
  if (reject) reject.addEventListener("click", () => act("/api/faces/reject", { person: pagePerson }));
  const split = document.getElementById("split");
  if (split) split.addEventListener("click", () => act("/api/faces/split", { person: pagePerson }));
  const moveTo = document.getElementById("move-to");
  moveTo.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    if (!moveTo.value.trim()) { say("Type a name first."); return; }
    act("/api/faces/move", { to: moveTo.value, from: pagePerson });
  });

  document.addEventListener("keydown", (event) => {
    if (typing(event)) return;
    const all = tiles();
    const at = all.indexOf(document.activeElement);
    const columns = Math.max(1, Math.round(grid.clientWidth / (all[0] ? all[0].offsetWidth + 8 : 120)));
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
    if (event.key in moves) {
      const next = all[Math.min(all.length - 1, Math.max(0, (at < 0 ? 0 : at + moves[event.key])))];
      if (next) { next.focus(); event.preventDefault(); }
    } else if (event.key === " " && at >= 0) {
      toggle(all[at]); anchor = all[at]; update(); event.preventDefault();
    } else if (event.key === "r" && reject) {
      reject.click();
    } else if (event.key === "m") {
      moveTo.focus(); event.preventDefault();
    } else if (event.key === "Escape") {
      all.forEach((t) => toggle(t, false)); update();
    }
  });
}

// ------------------------------------------------------------------ photo page
const boxActions = document.getElementById("box-actions");
if (boxActions) {
  let face = null;
  for (const box of document.querySelectorAll(".photo .box")) {
    box.addEventListener("click", () => {
      document.querySelectorAll(".photo .box").forEach((b) => b.classList.toggle("selected", b === box));
      face = box;
      boxActions.hidden = false;
      document.getElementById("box-face").textContent = `face ${box.dataset.face}`;
      document.querySelectorAll(".box-person").forEach((a) => { a.hidden = a.dataset.face !== box.dataset.face; });
      document.getElementById("box-name").focus();
    });
  }
  document.getElementById("box-name").addEventListener("keydown", async (event) => {
    if (event.key !== "Enter" || !face) return;
    const from = face.dataset.person ? Number(face.dataset.person) : null;
    const data = await post("/api/faces/move", { faces: [Number(face.dataset.face)], to: event.target.value, from });
    if (data.error) { say(data.error); return; }
    location.reload();
  });
}

// ------------------------------------------------------------------ review
const questionBox = document.getElementById("question");
if (questionBox) {
  let busy = false;
  const show = (data) => {
    questionBox.innerHTML = data.html;  // rendered by the server's templates, which escape every value
    placeBoxes(questionBox);
  };
  const answer = async (kind) => {
    if (busy) return;
    const ask = questionBox.querySelector(".ask");
    if (kind !== "undo" && !ask) return;
    busy = true;
    try {
      const body = kind === "undo" ? {} : {
        answer: kind, kind: ask.dataset.kind, person: Number(ask.dataset.person),
        face: ask.dataset.face ? Number(ask.dataset.face) : null,
        other: ask.dataset.other ? Number(ask.dataset.other) : null,
      };
      const data = await post(kind === "undo" ? "/api/review/undo" : "/api/review/answer", body);
      if (data.stale) { say(data.error); location.reload(); return; }
      if (data.error) { say(data.error); return; }
      message.hidden = true;
      show(data);
    } finally {
      busy = false;
    }
  };
  questionBox.addEventListener("click", (event) => {
    const button = event.target.closest(".answer");
    if (button && !button.disabled) answer(button.dataset.answer);
  });
  const keys = { y: "yes", n: "no", s: "skip", u: "undo" };
  document.addEventListener("keydown", (event) => {
    if (event.key === "z" && (event.ctrlKey || event.metaKey)) { answer("undo"); event.preventDefault(); return; }
    if (typing(event) || !(event.key.toLowerCase() in keys)) return;
    event.preventDefault();
    answer(keys[event.key.toLowerCase()]);
  });
}

placeBoxes();
