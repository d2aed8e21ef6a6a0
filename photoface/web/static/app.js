// photoface serve: the page scripts. No framework, no build step; every change is a JSON POST
// with the page's CSRF token, and the server answers with what changed (or a one-line error).
// Every change is confirmed in a toast at the bottom of the screen, with Undo where it can be.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const FLASH = "photoface-flash";  // a confirmation that survives the reload a change needs

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

// ------------------------------------------------------------------ the toast
const toastBox = document.getElementById("toast");
const toastText = document.getElementById("toast-text");
const toastUndo = document.getElementById("toast-undo");
const toastLink = document.getElementById("toast-link");
let toastTimer = null;

// text: what happened (text, never HTML: names and errors can hold anything); undo: the key the
// server gave; link: {href, text} to go on from there.
function toast(text, { undo = null, link = null, error = false } = {}) {
  toastText.textContent = text;
  toastBox.className = error ? "error" : "ok";
  toastUndo.hidden = !undo;
  toastUndo.dataset.undo = undo || "";
  toastLink.hidden = !link;
  if (link) { toastLink.href = link.href; toastLink.textContent = link.text; }
  toastBox.hidden = false;
  clearTimeout(toastTimer);
  // A confirmation stays long enough to undo it; an error until closed.
  if (!error) toastTimer = setTimeout(() => { toastBox.hidden = true; }, 20000);
}

function say(text) { toast(text, { error: true }); }

function reloadWith(text, options = {}) {
  sessionStorage.setItem(FLASH, JSON.stringify({ text, ...options }));
  location.reload();
}

function goWith(url, text, options = {}) {  // another page, with the confirmation shown there
  sessionStorage.setItem(FLASH, JSON.stringify({ text, ...options }));
  location.assign(url);
}

toastUndo.addEventListener("click", async () => {
  const data = await post("/api/undo", { undo: toastUndo.dataset.undo });
  if (data.error) { say(data.error); return; }
  reloadWith("Undone.");
});
document.getElementById("toast-close").addEventListener("click", () => { toastBox.hidden = true; });
toastBox.addEventListener("mouseenter", () => clearTimeout(toastTimer));

const flashed = sessionStorage.getItem(FLASH);
if (flashed) {
  sessionStorage.removeItem(FLASH);
  try { const { text, ...options } = JSON.parse(flashed); toast(text, options); } catch (_) { /* a stale entry */ }
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
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.ctrlKey || event.metaKey || event.altKey;
}

function button(text, onClick, className = "") {
  const el = document.createElement("button");
  el.type = "button";
  el.textContent = text;
  if (className) el.className = className;
  el.addEventListener("click", onClick);
  return el;
}

// ------------------------------------------------------------------ naming (people, person)
// The answer is shown where the name was typed: the card (or the person's header) says what
// happened, and a taken name offers the merge right there.
function noteOf(input) {
  const holder = input.closest(".card, .person-head");
  return holder ? holder.querySelector(".note") : null;
}

function showNote(input, parts, isError = false) {
  const note = noteOf(input);
  if (!note) { if (isError) say(parts.map((p) => (typeof p === "string" ? p : p.textContent)).join(" ")); return; }
  note.replaceChildren(...parts.map((p) => (typeof p === "string" ? document.createTextNode(p) : p)));
  note.className = isError ? "note error" : "note ok";
  note.hidden = false;
}

async function nameIt(input, person, merge = false) {
  const name = input.value.trim();
  if (!name) { showNote(input, ["Type a name first."], true); return; }
  const data = await post(`/api/people/${person}/name`, { name, merge });
  if (data.status === 409 && data.owner) {
    const offer = document.createElement("div");
    offer.className = "offer";
    const text = document.createElement("p");
    const owner = document.createElement("a");
    owner.href = `/people/${data.owner}`;
    owner.textContent = data.owner_name;
    text.append(owner, " is someone else already. The same person?");
    const choices = document.createElement("p");
    choices.className = "offer-buttons";
    choices.append(
      button(`Merge into ${data.owner_name}`, () => nameIt(input, person, true), "confirm-merge"),
      button("No, another name", () => { noteOf(input).hidden = true; input.select(); }),
    );
    offer.append(text, choices);
    showNote(input, [offer], true);
    return;
  }
  if (data.error) { showNote(input, [data.error], true); return; }
  named(input, person, data);
}

// The people page's tab counts follow a change made in place (the page is not reloaded).
function bump(tab, delta) {
  const count = document.querySelector(`.tabs a[data-tab="${tab}"] .count`);
  if (count) count.textContent = String(Math.max(0, Number(count.textContent) + delta));
}

function named(input, person, data) {
  const card = input.closest(".card");
  const link = { href: `/people/${data.person}`, text: `Open ${data.name}` };
  const what = data.merged ? `Merged into ${data.name}` : `Named ${data.name}`;
  const detail = `${what}: ${data.faces} face${data.faces === 1 ? "" : "s"} confirmed.`;
  if (!card) { reloadWith(detail, { undo: data.undo, link }); return; }  // the person's own page
  // The card stays where it is (a reload would sort it away to the named people).
  if (data.merged) { bump("all", -1); bump(data.was ? "named" : "unnamed", -1); }
  else if (!data.was) { bump("unnamed", -1); bump("named", 1); }
  card.classList.add("named", "just-named");
  const title = card.querySelector(".name a");
  title.textContent = data.name;
  for (const a of card.querySelectorAll("a[href^='/people/']")) a.href = `/people/${data.person}`;
  input.value = "";
  input.placeholder = "Rename";
  card.dataset.label = data.name;
  if (data.merged) {
    card.classList.add("merged");
    input.disabled = true;
    card.querySelectorAll(".ignore, .pick-box").forEach((el) => { el.disabled = true; });
  }
  showNote(input, [`✓ ${what}`]);
  toast(detail, { undo: data.undo, link });
}

for (const input of document.querySelectorAll(".name-box")) {
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const person = input.dataset.person || input.closest("[data-person]").dataset.person;
    nameIt(input, person);
  });
}

// The birth date (person page): set with its button, not on every change of the date box, which
// fires for each part typed (a year half typed is a date too).
async function setBorn(person, born) {
  const data = await post(`/api/people/${person}/born`, { born });
  if (data.error) { say(data.error); return; }
  const taken = data.taken.length;
  const freed = taken ? `; ${taken} face${taken === 1 ? "" : "s"} in earlier photos taken from them` : "";
  reloadWith(data.born ? `Born ${data.born}${freed}.` : "Birth date removed.", { undo: data.undo });
}

for (const set of document.querySelectorAll(".born-set")) {
  const box = set.parentElement.querySelector(".born-box");
  const send = () => (box.value ? setBorn(set.dataset.person, box.value) : say("Pick a date first (YYYY-MM-DD)."));
  set.addEventListener("click", send);
  box.addEventListener("keydown", (event) => { if (event.key === "Enter") send(); });
}
for (const clear of document.querySelectorAll(".born-clear")) {
  clear.addEventListener("click", () => setBorn(clear.dataset.person, null));
}

// ------------------------------------------------------------------ people page
const mergeButton = document.getElementById("merge");
if (mergeButton) {
  const picked = () => [...document.querySelectorAll(".pick-box:checked")].map((box) => Number(box.value));
  document.addEventListener("change", (event) => {
    if (!event.target.classList.contains("pick-box")) return;
    event.target.closest(".card").classList.toggle("picked", event.target.checked);
    const count = picked().length;
    mergeButton.disabled = count < 2;
    mergeButton.textContent = count ? `Merge ${count} selected` : "Merge selected";
  });
  mergeButton.addEventListener("click", async () => {
    const chosen = picked();
    const data = await post("/api/people/merge", { people: chosen });
    if (data.error) { say(data.error); return; }
    const name = data.name || `Person ${data.person}`;
    reloadWith(`Merged ${chosen.length} people into ${name}.`, {
      undo: data.undo, link: { href: `/people/${data.person}`, text: `Open ${name}` },
    });
  });
  for (const ignore of document.querySelectorAll(".card .ignore")) {
    ignore.addEventListener("click", async () => {
      const card = ignore.closest(".card");
      const data = await post(`/api/people/${card.dataset.person}/ignore`, {});
      if (data.error) { say(data.error); return; }
      card.classList.add("gone");
      ignore.disabled = true;
      bump("all", -1); bump(card.classList.contains("named") ? "named" : "unnamed", -1); bump("ignored", 1);
      toast(`Ignored ${card.dataset.label}: kept out of the way (the Ignored tab lists them).`, { undo: data.undo });
    });
  }
  const sort = document.getElementById("sort");
  if (sort) sort.addEventListener("change", () => sort.form.submit());
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

  const plural = (n) => `${n} face${n === 1 ? "" : "s"}`;
  const act = async (url, body, told) => {
    const faces = selected();
    if (!faces.length) { say("Select faces first (click them)."); return; }
    const data = await post(url, { faces, ...body });
    if (data.error) { say(data.error); return; }
    reloadWith(told(data, faces.length), {
      undo: data.undo, link: data.person ? { href: `/people/${data.person}`, text: "Open" } : null,
    });
  };
  const reject = document.getElementById("reject");
  const label = reject ? reject.textContent : "";
  if (reject) reject.addEventListener("click", () => act("/api/faces/reject", { person: pagePerson }, (d, n) => `${label}: ${plural(n)} taken off.`));
  const split = document.getElementById("split");
  if (split) split.addEventListener("click", () => act("/api/faces/split", { person: pagePerson }, (d, n) => `${plural(n)} split off as Person ${d.person}.`));
  const moveTo = document.getElementById("move-to");
  moveTo.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    if (!moveTo.value.trim()) { say("Type a name first."); return; }
    act("/api/faces/move", { to: moveTo.value, from: pagePerson }, (d, n) => `${plural(n)} given to ${d.name || "Person " + d.person}.`);
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

// ------------------------------------------------------------------ a person's page: "looks like"
const alike = document.getElementById("alike");
if (alike) {
  for (const merge of alike.querySelectorAll(".merge-alike")) {
    merge.addEventListener("click", async () => {
      const data = await post("/api/people/merge", { people: [Number(alike.dataset.person), Number(merge.dataset.other)] });
      if (data.error) { say(data.error); return; }
      // The merged person may be the other one: this page's person is then gone; go to theirs.
      const name = data.name || `Person ${data.person}`;
      goWith(`/people/${data.person}`, `Merged into ${name}.`, { undo: data.undo });
    });
  }
}

// ------------------------------------------------------------------ a person's photos: the viewer
const viewer = document.getElementById("viewer");
if (viewer) {
  const shots = [...document.querySelectorAll(".shot")];
  const image = document.getElementById("viewer-image");
  let at = -1;
  const open = (index) => {
    at = (index + shots.length) % shots.length;
    const shot = shots[at];
    image.src = `/photos/${shot.dataset.photo}/image?side=1600`;
    image.alt = shot.querySelector("img").alt;
    document.getElementById("viewer-caption").textContent = shot.dataset.caption;
    document.getElementById("viewer-open").setAttribute("href", shot.getAttribute("href"));
    if (!viewer.open) viewer.showModal();
  };
  shots.forEach((shot, index) => shot.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey) return;  // a new tab, as asked
    event.preventDefault();
    open(index);
  }));
  document.getElementById("viewer-prev").addEventListener("click", () => open(at - 1));
  document.getElementById("viewer-next").addEventListener("click", () => open(at + 1));
  document.getElementById("viewer-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("click", (event) => { if (event.target === viewer) viewer.close(); });  // the backdrop
  viewer.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") open(at - 1);
    else if (event.key === "ArrowRight") open(at + 1);
  });
}

// ------------------------------------------------------------------ photo page: zoom and its faces
const viewport = document.getElementById("viewport");
if (viewport) {
  const photo = document.getElementById("photo");
  const img = photo.querySelector("img, video");  // a photo, or a video's player
  const ratio = Number(photo.dataset.ratio) || 4 / 3;
  const STEPS = [1, 1.5, 2, 3, 4, 6, 8];
  let zoom = 1;
  const fitWidth = () => Math.min(viewport.clientWidth, viewport.clientHeight * ratio);
  const apply = (level, centre = null) => {
    // Keep the point in the middle of the view (or the face asked for) in the middle.
    const before = photo.offsetWidth || 1;
    const cx = centre ? centre.x : (viewport.scrollLeft + viewport.clientWidth / 2) / before;
    const cy = centre ? centre.y : (viewport.scrollTop + viewport.clientHeight / 2) / (before / ratio);
    zoom = Math.min(8, Math.max(1, level));
    const width = fitWidth() * zoom;
    photo.style.width = `${width}px`;
    photo.style.height = `${width / ratio}px`;
    photo.classList.toggle("zoomed", zoom > 1);
    if (zoom > 1.5 && img.dataset.large && !img.src.endsWith(img.dataset.large)) img.src = img.dataset.large;
    viewport.scrollLeft = cx * width - viewport.clientWidth / 2;
    viewport.scrollTop = cy * (width / ratio) - viewport.clientHeight / 2;
    document.getElementById("zoom-level").textContent = `${Math.round(zoom * 100)}%`;
  };
  const step = (direction) => {
    const next = direction > 0 ? STEPS.find((s) => s > zoom + 0.01) : [...STEPS].reverse().find((s) => s < zoom - 0.01);
    apply(next || zoom);
  };
  document.getElementById("zoom-in").addEventListener("click", () => step(1));
  document.getElementById("zoom-out").addEventListener("click", () => step(-1));
  document.getElementById("zoom-fit").addEventListener("click", () => apply(1));
  window.addEventListener("resize", () => apply(zoom));
  viewport.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;  // a plain wheel scrolls; ctrl + wheel (and a pinch) zooms
    event.preventDefault();
    step(event.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  let drag = null;  // drag to move around a zoomed photo
  viewport.addEventListener("pointerdown", (event) => {
    if (zoom === 1 || viewport.classList.contains("drawing") || event.target.closest(".box, video")) return;
    drag = { x: event.clientX, y: event.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
    viewport.setPointerCapture(event.pointerId);
  });
  viewport.addEventListener("pointermove", (event) => {
    if (!drag) return;
    viewport.scrollLeft = drag.left - (event.clientX - drag.x);
    viewport.scrollTop = drag.top - (event.clientY - drag.y);
  });
  viewport.addEventListener("pointerup", () => { drag = null; });

  const select = (faceId, zoomTo = false, focusName = true) => {
    for (const el of document.querySelectorAll(".photo .box, .face-row")) {
      el.classList.toggle("selected", el.dataset.face === faceId);
    }
    const box = document.getElementById(`box-${faceId}`);
    if (zoomTo && box) {
      const left = Number(box.dataset.left) + Number(box.dataset.width) / 2;
      const top = Number(box.dataset.top) + Number(box.dataset.height) / 2;
      // Big enough to see the face well: about a third of the view's width.
      const wanted = Math.min(8, Math.max(zoom, 33 / Math.max(1, Number(box.dataset.width))));
      apply(wanted, { x: left / 100, y: top / 100 });
    }
    const row = document.querySelector(`.face-row[data-face="${faceId}"]`);
    if (row) row.scrollIntoView({ block: "nearest" });
    if (row && focusName) row.querySelector(".face-name").focus({ preventScroll: true });
  };
  const player = document.getElementById("player");
  // A video's face (a track): the player goes to where the face is first seen, and plays.
  const playFrom = (faceId, start) => {
    select(faceId, false, false);  // watching: no name box focused (a phone would open its keyboard)
    player.currentTime = Number(start);
    player.play().catch((error) => say(`This browser cannot play the video: ${error.message}`));
  };
  if (player) player.addEventListener("play", () => photo.classList.add("started"), { once: true });  // boxes are of one frame
  for (const box of document.querySelectorAll(".photo .box")) {
    box.classList.toggle("label-below", Number(box.dataset.top) < 6);  // no room above it for the number
    box.addEventListener("click", () => (player ? playFrom(box.dataset.face, box.dataset.start) : select(box.dataset.face)));
  }
  for (const show of document.querySelectorAll(".show-face")) {
    show.addEventListener("click", () => (player ? playFrom(show.dataset.face, show.dataset.start) : select(show.dataset.face, true)));
  }
  const live = document.getElementById("live");
  if (live) {
    // A Live Photo: its clip plays over the still, muted, and goes when it ends or is turned off.
    const clip = document.getElementById("live-clip");
    const showClip = (on) => {
      live.setAttribute("aria-pressed", on ? "true" : "false");
      clip.hidden = !on;
      photo.classList.toggle("live-on", on);
      if (!on) { clip.pause(); return; }
      clip.currentTime = 0;
      clip.play().catch((error) => { showClip(false); say(`This browser cannot play the Live Photo's clip: ${error.message}`); });
    };
    live.addEventListener("click", () => showClip(clip.hidden));
    clip.addEventListener("ended", () => showClip(false));
  }
  for (const input of document.querySelectorAll(".face-name")) {
    input.addEventListener("keydown", async (event) => {
      if (event.key !== "Enter") return;
      const row = input.closest(".face-row");
      if (!input.value.trim()) { say("Type a name first."); return; }
      const from = row.dataset.person ? Number(row.dataset.person) : null;
      const data = await post("/api/faces/move", { faces: [Number(row.dataset.face)], to: input.value, from });
      if (data.error) { say(data.error); return; }
      const name = data.name || `Person ${data.person}`;
      reloadWith(`This face is ${name} now.`, { undo: data.undo, link: { href: `/people/${data.person}`, text: `Open ${name}` } });
    });
  }
  if (document.getElementById("draw-face")) drawFaces(photo, viewport);
  const linked = /^#face-(\d+)$/.exec(location.hash);  // the face just drawn, after the reload
  if (linked && document.getElementById(`box-${linked[1]}`)) select(linked[1]);
  document.addEventListener("keydown", (event) => {
    if (typing(event)) return;
    if (event.key === "+" || event.key === "=") step(1);
    else if (event.key === "-") step(-1);
    else if (event.key === "0") apply(1);
  });
  if (matchMedia("(max-width: 700px)").matches) {
    // A phone: the viewport as tall as the photo at full width (at most 60% of the screen), no bars.
    viewport.style.height = `${Math.min(innerHeight * 0.6, viewport.clientWidth / ratio)}px`;
  }
  apply(1);
  // A video has no "complete": its element is sized by the page, not by what it loads.
  if (img.complete !== false) apply(1); else img.addEventListener("load", () => apply(zoom), { once: true });
}

// ------------------------------------------------------------------ photo page: drawing a face the scan missed
// The box is kept as fractions of the photo while it is drawn (the photo may be zoomed or
// resized meanwhile) and sent in pixels of the upright photo, the frame of every stored face.
function drawFaces(photo, viewport) {
  const start = document.getElementById("draw-face");
  const panel = document.getElementById("draw-panel");
  const form = document.getElementById("draw-form");
  const nameBox = document.getElementById("draw-name");
  const drawn = document.getElementById("drawn-box");
  const size = { width: Number(photo.dataset.photoWidth), height: Number(photo.dataset.photoHeight) };
  const KEY_STEP = 0.01;  // of the photo's width or height, per arrow key
  let box = null;  // {x, y, w, h}: fractions of the photo
  let from = null;  // where the drag began

  const show = () => {
    drawn.hidden = !box;
    form.hidden = !box;
    if (!box) return;
    drawn.style.left = `${box.x * 100}%`;
    drawn.style.top = `${box.y * 100}%`;
    drawn.style.width = `${box.w * 100}%`;
    drawn.style.height = `${box.h * 100}%`;
  };
  const setMode = (on) => {
    viewport.classList.toggle("drawing", on);
    start.setAttribute("aria-pressed", on ? "true" : "false");
    panel.hidden = !on;
    box = null; from = null; nameBox.value = "";
    show();
  };
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const at = (event) => {
    const rect = photo.getBoundingClientRect();
    return { x: clamp((event.clientX - rect.left) / rect.width), y: clamp((event.clientY - rect.top) / rect.height) };
  };
  const ask = () => {
    show();
    nameBox.focus({ preventScroll: true });
    panel.scrollIntoView({ block: "nearest" });
  };

  start.addEventListener("click", () => setMode(!viewport.classList.contains("drawing")));
  document.getElementById("draw-cancel").addEventListener("click", () => { setMode(false); start.focus(); });
  viewport.addEventListener("pointerdown", (event) => {
    if (!viewport.classList.contains("drawing") || !photo.contains(event.target)) return;
    event.preventDefault();  // no text selection, no image drag
    from = at(event);
    box = { ...from, w: 0, h: 0 };
    viewport.setPointerCapture(event.pointerId);
    show();
  });
  viewport.addEventListener("pointermove", (event) => {
    if (!from) return;
    const to = at(event);
    box = { x: Math.min(from.x, to.x), y: Math.min(from.y, to.y), w: Math.abs(to.x - from.x), h: Math.abs(to.y - from.y) };
    show();
  });
  const finish = () => {
    if (!from) return;
    from = null;
    const rect = photo.getBoundingClientRect();
    if (box.w * rect.width < 6 || box.h * rect.height < 6) { box = null; show(); return; }  // a tap, not a box
    ask();
  };
  viewport.addEventListener("pointerup", finish);
  viewport.addEventListener("pointercancel", finish);

  document.addEventListener("keydown", (event) => {
    if (!viewport.classList.contains("drawing")) return;
    if (event.key === "Escape") { setMode(false); start.focus(); event.preventDefault(); return; }
    // Enter names the box (and does not press the focused Draw button, which would end drawing).
    if (event.key === "Enter" && box && !typing(event)) { nameBox.focus(); event.preventDefault(); return; }
    const moves = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1] };
    if (!(event.key in moves) || typing(event)) return;
    event.preventDefault();
    // A box to start from, in the middle of what is in view: the keyboard's way to draw.
    if (!box) {
      const view = viewport.getBoundingClientRect(), rect = photo.getBoundingClientRect();
      const w = Math.min(0.5, 120 / rect.width), h = Math.min(0.5, 120 / rect.height);
      const cx = (view.left + view.width / 2 - rect.left) / rect.width, cy = (view.top + view.height / 2 - rect.top) / rect.height;
      box = { x: clamp(cx - w / 2), y: clamp(cy - h / 2), w, h };
    }
    const [dx, dy] = moves[event.key].map((d) => d * KEY_STEP);
    if (event.shiftKey) { box.w = Math.max(KEY_STEP, box.w + dx); box.h = Math.max(KEY_STEP, box.h + dy); }
    else { box.x += dx; box.y += dy; }
    box.w = Math.min(box.w, 1); box.h = Math.min(box.h, 1);
    box.x = Math.min(clamp(box.x), 1 - box.w); box.y = Math.min(clamp(box.y), 1 - box.h);
    show();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = nameBox.value.trim();
    if (!name) { say("Type the name of the person in the box."); return; }
    // Whole pixels of the photo, inside it (rounding must not push the box over an edge).
    const x = Math.floor(box.x * size.width), y = Math.floor(box.y * size.height);
    const w = Math.min(size.width - x, Math.round(box.w * size.width)), h = Math.min(size.height - y, Math.round(box.h * size.height));
    const data = await post(`/api/photos/${photo.dataset.photo}/faces`, { box: [x, y, w, h], name });
    if (data.error) { say(data.error); return; }
    const how = data.detected ? "the detector found it in the box" : "made from the box";
    history.replaceState(null, "", `#face-${data.face}`);
    reloadWith(`Added a face of ${data.name} (${how}).`, {
      undo: data.undo, link: { href: `/people/${data.person}`, text: `Open ${data.name}` },
    });
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
      if (data.stale) { reloadWith(data.error, { error: true }); return; }
      if (data.error) { say(data.error); return; }
      toastBox.hidden = true;
      show(data);
    } finally {
      busy = false;
    }
  };
  questionBox.addEventListener("click", (event) => {
    const answerButton = event.target.closest(".answer");
    if (answerButton && !answerButton.disabled) answer(answerButton.dataset.answer);
  });
  const keys = { y: "yes", o: "other", n: "no", s: "skip", u: "undo" };
  document.addEventListener("keydown", (event) => {
    if (event.key === "z" && (event.ctrlKey || event.metaKey)) { answer("undo"); event.preventDefault(); return; }
    if (typing(event) || !(event.key.toLowerCase() in keys)) return;
    if (keys[event.key.toLowerCase()] === "other" && !questionBox.querySelector('[data-answer="other"]')) return;
    event.preventDefault();
    answer(keys[event.key.toLowerCase()]);
  });
}

placeBoxes();
