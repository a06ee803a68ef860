// The genre page: classify a dropped or chosen file with POST /classify, show GET /model and its plots.
// Plain JavaScript, no library; the bearer token (when the service has one) lives in this tab's sessionStorage.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "genre-token";
let model = null;  // GET /model's answer, once read

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function show(el, visible) { el.hidden = !visible; }

function percent(p) { return `${(100 * p).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)}%`; }

function seconds(s) {
  const whole = Math.round(s);
  return whole < 60 ? `${s.toFixed(1)} s` : `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

function askForToken() {
  show($("auth"), true);
  $("token").focus();
}

// ---- views ----

function showView() {
  const name = location.hash === "#model" ? "model" : "classify";
  document.querySelectorAll("[data-view-section]").forEach((s) => show(s, s.id === name));
  document.querySelectorAll("nav a[data-view]").forEach((a) => {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  return name;
}

// ---- classify ----

const PLAIN = [  // [status, words in the service's message, what to tell a person]
  [400, "not decodable audio", "This file is not audio the service can read. Choose a wav, flac, mp3, ogg or au file."],
  [400, "silent", "The audio is silent: there is nothing to classify."],
  [400, "too short", "The clip is too short to classify: choose one of a few seconds or more."],
  [400, "empty", "The file is empty."],
  [400, "NaN", "The file holds damaged samples (not numbers). Export it again and retry."],
  [413, "serve.max_seconds", "The song is longer than this service accepts. Choose a shorter excerpt."],
  [413, "", "The file is too large for this service. Choose a smaller or more compressed file (mp3, ogg), or cut it."],
  [415, "", "The page sent the file in a form the service does not accept. Reload the page and try again."],
  [401, "", "This service needs an access token: enter it above, then choose the file again."],
  [400, "", "The service could not classify this file."],
];

function plainWords(status, message) {
  for (const [code, words, text] of PLAIN) {
    if (code === status && message.includes(words)) return text;
  }
  return status === 0 ? "The service could not be reached. Check that it is running and try again."
    : `The service failed to classify the file (error ${status}). Try again, or tell whoever runs it.`;
}

function showError(file, status, message) {
  show($("progress"), false);
  $("status").textContent = "";
  $("error-title").textContent = file ? `${file} could not be classified` : "Something went wrong";
  $("error-text").textContent = plainWords(status, message);
  // the service's own message, less the instructions meant for developers (multipart fields, curl, headers)
  const detail = message.split(/ Send multipart\/form-data|: send the header/)[0].trim();
  $("error-detail").textContent = detail || `HTTP ${status}`;
  show($("error"), true);
  if (status === 401) askForToken();
}

function showResult(answer) {
  const probs = Object.entries(answer.probabilities).sort((a, b) => b[1] - a[1]);
  $("result-file").textContent = answer.file;
  $("genre").textContent = answer.genre;
  $("genre-probability").textContent = `${percent(answer.probabilities[answer.genre])} sure, of ${probs.length} genres`;
  const bars = $("bars");
  bars.replaceChildren(...probs.map(([genre, p]) => {
    const li = document.createElement("li");
    if (genre === answer.genre) li.className = "top";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = genre;
    const track = document.createElement("span");
    track.className = "track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${Math.max(0, Math.min(100, 100 * p))}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = percent(p);
    li.append(name, track, value);
    return li;
  }));
  $("duration").textContent = seconds(answer.duration_analysed)
    + (answer.truncated ? " (the beginning of a longer file: the service analyses a limited length)" : "");
  $("result-model").textContent = answer.model;
  const unusual = answer.unusual_features || [];
  $("unusual").textContent = unusual.join(", ");
  show($("warning"), unusual.length > 0);
  show($("result"), true);
  $("status").textContent = `${answer.file}: ${answer.genre}`;
}

function classify(file) {
  if (!file) return;
  show($("error"), false);
  show($("result"), false);
  const limit = model && model.limits && model.limits.max_upload_mb;
  if (limit && file.size > limit * 2 ** 20) {
    const size = (file.size / 2 ** 20).toFixed(1);
    showError(file.name, 413, `${size} MB, over this service's limit of ${limit} MB (serve.max_upload_mb)`);
    return;
  }
  const body = new FormData();
  body.append("audio", file, file.name);
  const request = new XMLHttpRequest();
  const bar = $("progress-bar");
  request.open("POST", "classify");
  for (const [k, v] of Object.entries(authHeaders())) request.setRequestHeader(k, v);
  request.responseType = "text";
  request.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    bar.value = Math.round((100 * e.loaded) / e.total);
    $("status").textContent = `Uploading ${file.name}: ${bar.value}%`;
  };
  request.upload.onload = () => {
    bar.removeAttribute("value");  // indeterminate while the service listens
    $("status").textContent = `Listening to ${file.name}…`;
  };
  request.onload = () => {
    $("drop").removeAttribute("aria-busy");
    let answer = {};
    try { answer = JSON.parse(request.responseText); } catch { answer = { error: request.responseText }; }
    if (request.status === 200) {
      show($("progress"), false);
      showResult(answer);
    } else {
      showError(file.name, request.status, String(answer.error || ""));
    }
  };
  request.onerror = () => {
    $("drop").removeAttribute("aria-busy");
    showError(file.name, 0, "");
  };
  bar.value = 0;
  show($("progress"), true);
  $("drop").setAttribute("aria-busy", "true");
  $("status").textContent = `Uploading ${file.name}…`;
  request.send(body);
}

function setUpDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => {
    classify(e.target.files[0]);
    e.target.value = "";  // choosing the same file again classifies it again
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    classify(e.dataTransfer.files[0]);
  });
  // a file dropped beside the zone must not replace the page
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// ---- the model ----

function fact(list, term, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
  list.append(dt, dd);
}

function breakable(text) {  // a candidate's name, which may break after each "+"
  const parts = text.split("+");
  return parts.flatMap((part, i) => (i < parts.length - 1 ? [`${part}+`, document.createElement("wbr")] : [part]));
}

function score(value) {  // a metric to 4 places
  if (typeof value !== "number") return value === undefined || value === null ? "" : String(value);
  return value.toFixed(4);
}

function code(text) {
  const c = document.createElement("code");
  c.textContent = text;
  return c;
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function showLimits() {
  const l = model.limits || {};
  if (!l.max_upload_mb) return;
  $("limits").textContent = `Up to ${l.max_upload_mb} MB; ` + (l.over_duration === "refuse"
    ? `at most ${l.max_seconds} s long.` : `only the first ${l.max_seconds} s of a longer song are analysed.`);
}

function showModel() {
  const meta = model.metadata || {};
  const facts = $("model-facts");
  facts.replaceChildren();
  fact(facts, "Tag", code(model.tag));
  fact(facts, "Genres", (model.genres || []).join(", "));
  fact(facts, "Ensemble", meta.ensemble);
  fact(facts, "Trained", model.created && when(model.created));
  const p = model.promotion;
  const how = p && (p.action === "rollback" ? "rolled back to" : "promoted");
  fact(facts, "Champion since", p && `${when(p.at)} (${how} by ${p.by})`);
  fact(facts, "Training data", meta.data_version);
  fact(facts, "Training run", meta.run);

  const rows = Object.entries(meta.metrics || {});
  $("metrics").tBodies[0].replaceChildren(...rows.map(([name, m]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.append(...breakable(name === "ensemble" ? "ensemble (chosen)" : name));
    tr.append(th);
    for (const key of ["roc_auc", "accuracy", "macro_f1", "clips"]) {
      const td = document.createElement("td");
      td.textContent = key === "clips" ? String(m[key] ?? "") : score(m[key]);
      tr.append(td);
    }
    return tr;
  }));

  const gate = meta.gate || {};
  const reasons = Array.isArray(gate.reasons) ? gate.reasons.join("; ") : gate.reason;
  const verdict = gate.verdict || (gate.promote || gate.passed ? "promote" : "");
  $("gate-verdict").textContent = verdict ? `Verdict: ${verdict}. ${reasons || ""}`
    : "No gate record was stored with this model.";
  const g = $("gate");
  g.replaceChildren();
  fact(g, "Candidate ROC-AUC", gate.candidate_roc_auc === undefined ? undefined : score(gate.candidate_roc_auc));
  fact(g, "Floor", gate.floor);
  fact(g, "Champion it faced", gate.champion || (verdict ? "none" : undefined));
  fact(g, "That champion's ROC-AUC on the same clips", gate.champion_roc_auc == null ? undefined
    : score(gate.champion_roc_auc));
  fact(g, "Test clips", gate.n_clips);
  fact(g, "Decided", gate.decided_at && when(gate.decided_at));
  show($("model-body"), true);
}

async function loadPlot(name) {
  const answer = await fetch(`model/${name}.png`, { headers: authHeaders() });
  if (!answer.ok) return answer;
  $(name).src = URL.createObjectURL(await answer.blob());
  show($(`${name}-figure`), true);
  return answer;
}

async function loadModel() {
  $("model-status").textContent = "Reading the model…";
  let answer;
  try {
    answer = await fetch("model", { headers: authHeaders() });
  } catch {
    $("model-status").textContent = "The service could not be reached. Check that it is running and reload.";
    return;
  }
  if (answer.status === 401) {
    $("model-status").textContent = "This service needs an access token: enter it above.";
    askForToken();
    return;
  }
  if (!answer.ok) {
    $("model-status").textContent = `The service could not describe its model (error ${answer.status}).`;
    return;
  }
  model = await answer.json();
  $("model-status").textContent = "";
  showLimits();
  showModel();
  const plots = await Promise.all(["roc", "confusion"].map(loadPlot));
  const missing = plots.find((r) => !r.ok);
  $("plots-status").textContent = missing ? "The evaluation plots of this model are not on this server "
    + "(they are kept with the training run that made the model)." : "";
}

// ---- start ----

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  show($("auth"), false);
  $(`${showView()}-title`).focus();
  loadModel();
});

window.addEventListener("hashchange", () => {
  const name = showView();
  $(`${name}-title`).focus();
});

setUpDrop();
showView();
loadModel();  // the model view, and the limits for the upload hint; a 401 asks for the token
