"use strict";
// The viewer: every request goes to this server only (no other host is contacted).
const state = { token: sessionStorage.getItem("skpneumo-token"), model: null };

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    const token = window.prompt("This server needs its access token:");
    if (token) {
      state.token = token.trim();
      sessionStorage.setItem("skpneumo-token", state.token);
      return api(path, options);
    }
  }
  return response;
}

async function errorText(response) {
  try { return (await response.json()).error || response.statusText; } catch (e) { return response.statusText; }
}

function fmt(p) { return p.toFixed(3); }

async function loadModel() {
  const line = document.getElementById("model-line");
  const response = await api("/v1/model");
  if (!response.ok) { line.textContent = "Model: " + (await errorText(response)); return; }
  state.model = await response.json();
  const t = state.model.threshold;
  line.textContent = `Model ${state.model.name}` + (state.model.version ? ` (trained ${state.model.version})` : "") +
    `: threshold ${fmt(t.value)}` + (t.rule ? ` (${t.rule})` : "");
  document.getElementById("card-text").textContent = JSON.stringify(state.model.model_card || {note: "no model card"}, null, 2);
}

function show(item, row) {
  const q = (selector) => item.querySelector(selector);
  if (row.error) { q(".error").textContent = row.error; q(".label").textContent = "Not read"; return; }
  const positive = state.model ? state.model.positive_class : "PNEUMONIA";
  q(".label").textContent = row.label;
  q(".label").classList.add(row.label === positive ? "positive" : "negative");
  q(".probability").innerHTML = `P(${positive}) = <output class="p-value">${fmt(row.probability)}</output>`;
  q(".fill").style.width = (100 * row.probability) + "%";
  q(".mark").style.left = `calc(${100 * row.threshold}% - 1px)`;
  q(".bar").setAttribute("aria-label", `probability ${fmt(row.probability)} against threshold ${fmt(row.threshold)}`);
  q(".threshold").textContent = `${row.label} because P ${row.probability >= row.threshold ? "≥" : "<"} threshold ${fmt(row.threshold)}`;
}

async function explainInto(item, file) {
  const toggle = item.querySelector(".overlay-toggle");
  const picture = item.querySelector(".picture");
  const form = new FormData();
  form.append("files", file, file.name);
  const response = await api("/v1/explain", { method: "POST", body: form });
  if (!response.ok) { item.querySelector(".caption").textContent = "Overlay: " + (await errorText(response)); return; }
  const overlay = URL.createObjectURL(await response.blob());
  const film = picture.src;
  toggle.disabled = false;
  toggle.addEventListener("change", () => {
    picture.src = toggle.checked ? overlay : film;
    item.querySelector(".caption").textContent = toggle.checked ? "Grad-CAM: where the model found pneumonia evidence" : "The film";
  });
}

function filmPicture(item, file) {
  // The browser shows PNG and JPEG itself; a DICOM film is shown through its overlay at alpha 0.
  const picture = item.querySelector(".picture");
  picture.alt = "film " + file.name;
  item.querySelector(".caption").textContent = "The film";
  const direct = /^image\/(png|jpeg|bmp)$/.test(file.type);
  if (direct) { picture.src = URL.createObjectURL(file); return Promise.resolve(); }
  const form = new FormData();
  form.append("files", file, file.name);
  return api("/v1/explain?alpha=0", { method: "POST", body: form }).then(async (r) => {
    if (r.ok) picture.src = URL.createObjectURL(await r.blob());
  });
}

async function handle(files) {
  files = Array.from(files);
  if (!files.length) return;
  const status = document.getElementById("status");
  const list = document.getElementById("results");
  const template = document.getElementById("film-template");
  const items = files.map((file) => {
    const item = template.content.firstElementChild.cloneNode(true);
    item.querySelector(".name").textContent = file.name;
    list.prepend(item);
    return item;
  });
  status.textContent = `Predicting ${files.length} film(s)…`;
  const form = new FormData();
  files.forEach((file) => form.append("files", file, file.name));
  const response = await api("/v1/predict", { method: "POST", body: form });
  let rows;
  if (response.ok || response.status === 422) {
    rows = (await response.json()).results;
  } else {
    const message = await errorText(response);
    rows = files.map(() => ({ error: message }));
  }
  status.textContent = `Predicted ${files.length} film(s).`;
  await Promise.all(rows.map(async (row, i) => {
    show(items[i], row);
    if (!row.error) { await filmPicture(items[i], files[i]); await explainInto(items[i], files[i]); }
  }));
}

function setUp() {
  const drop = document.getElementById("drop");
  const picker = document.getElementById("picker");
  picker.addEventListener("change", () => { handle(picker.files); picker.value = ""; });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); handle(e.dataTransfer.files); });
  const button = document.getElementById("card-button");
  button.addEventListener("click", () => {
    const card = document.getElementById("card");
    card.hidden = !card.hidden;
    button.setAttribute("aria-expanded", String(!card.hidden));
  });
  loadModel();
}

setUp();
