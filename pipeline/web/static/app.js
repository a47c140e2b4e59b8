// infant-stream page: upload an image or a video, follow video jobs, watch live cameras.
// Plain JS, no libraries (works offline). Privacy: the page never shows the file the user picks
// (no file readers, no object URLs); it shows only the images the server returns, which the server
// has already privacy-filtered. Nothing about uploads is written to the console.
// Auth: relative URLs and same-origin requests carry the server's HttpOnly cookie by themselves.
"use strict";

const POLL_MS = 500; // job progress polling
const WS_RETRY_MS = [1000, 2000, 5000, 10000]; // live reconnect delays (then the last, repeated)
const BG = "#ffffff"; // chart background (the tests look for non-background pixels)
const COLOURS = { head: [44, 160, 44], arm: [31, 119, 180], torso: [255, 127, 14], leg: [214, 39, 40] };
const SPARE = [[148, 103, 189], [140, 86, 75], [227, 119, 194], [188, 189, 34], [23, 190, 207]];
const JOINT_COLOUR = "rgba(120, 120, 120, 0.55)";

const $ = (id) => document.getElementById(id);
const state = { classNames: [], liveHistoryS: 30, job: null, pollTimer: null, live: new Map() };

// ---- small helpers ----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

/** The server's one-line error of a failed answer (`{"error": "..."}`), else the HTTP status. */
function errorOf(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body.error;
  } catch (_) { /* not JSON */ }
  return status === 0 ? "the server cannot be reached" : `HTTP ${status}`;
}

/** GET/DELETE a JSON answer; throws Error(server's error line) on a 4xx/5xx. */
async function api(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { cache: "no-store", ...options });
  } catch (_) {
    throw new Error("the server cannot be reached");
  }
  const text = await response.text();
  if (!response.ok) {
    const err = new Error(errorOf(response.status, text));
    err.status = response.status;
    throw err;
  }
  return JSON.parse(text);
}

/** POST a file as multipart field `file` (XHR for upload progress); resolves with the JSON answer. */
function upload(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.open("POST", url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { resolve(JSON.parse(xhr.responseText)); } catch (_) { reject(new Error("bad answer from the server")); }
      } else {
        reject(new Error(errorOf(xhr.status, xhr.responseText)));
      }
    };
    xhr.onerror = () => reject(new Error("the upload failed: the server cannot be reached"));
    xhr.send(form);
  });
}

function colourOf(classId) {
  const name = state.classNames[classId];
  return COLOURS[name] || SPARE[(classId - 1 + SPARE.length) % SPARE.length];
}

const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
const fmt = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits));

function fillLegend(list) {
  list.replaceChildren();
  state.classNames.forEach((name, id) => {
    if (id === 0) return; // background
    list.append(el("li", { style: `--swatch: ${rgb(colourOf(id))}`, text: name }));
  });
  list.append(el("li", { style: `--swatch: ${JOINT_COLOUR}`, text: "joints" }));
}

// ---- charts -----------------------------------------------------------------------------------

/**
 * Draw series of [t, value] on a canvas: time on the horizontal axis, value on the vertical.
 * series: [{colour, points: [[t, v], ...], width, dots}]; t0..t1 and v0..v1 are the axis ranges.
 * Returns the number of points drawn (kept in data-points for tests and debugging).
 */
function drawChart(canvas, series, t0, t1, v0, v1, labels) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600;
  const h = canvas.clientHeight || 200;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = BG;
  ctx.fillRect(0, 0, w, h);
  const pad = { l: 44, r: 10, t: 8, b: 22 };
  const pw = w - pad.l - pad.r;
  const ph = h - pad.t - pad.b;
  const tSpan = t1 - t0 || 1;
  const vSpan = v1 - v0 || 1;
  const X = (t) => pad.l + ((t - t0) / tSpan) * pw;
  const Y = (v) => pad.t + (1 - (v - v0) / vSpan) * ph;

  // axes, grid and tick labels
  ctx.strokeStyle = "#e3e7eb";
  ctx.fillStyle = "#5b6670";
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = v0 + (vSpan * i) / 4;
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(String(Math.round(v)), pad.l - 4, y);
  }
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (let i = 0; i <= 5; i++) {
    const t = t0 + (tSpan * i) / 5;
    ctx.fillText(labels ? labels(t) : `${t.toFixed(1)}`, X(t), h - pad.b + 5);
  }

  // the series, clipped to the plot area
  ctx.save();
  ctx.beginPath(); ctx.rect(pad.l, pad.t, pw, ph); ctx.clip();
  let drawn = 0;
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = s.width || 2;
    if (s.dots) {
      const r = s.width || 2;
      for (const [t, v] of s.points) { ctx.fillRect(X(t) - r / 2, Y(v) - r / 2, r, r); drawn++; }
    } else {
      ctx.beginPath();
      s.points.forEach(([t, v], i) => (i ? ctx.lineTo(X(t), Y(v)) : ctx.moveTo(X(t), Y(v))));
      ctx.stroke();
      drawn += s.points.length;
    }
  }
  ctx.restore();
  canvas.dataset.points = String(drawn);
  return drawn;
}

// ---- header ----------------------------------------------------------------------------------

async function loadHealth() {
  try {
    const health = await api("/health");
    const cfg = health.config || {};
    state.classNames = cfg.class_names || [];
    state.liveHistoryS = cfg.live_history_s || 30;
    $("models").textContent = `${health.message} · version ${health.version} · privacy ${cfg.privacy}`;
    document.querySelectorAll("ul.legend").forEach(fillLegend);
    const endpoints = health.live_endpoints || [];
    $("live-note").hidden = endpoints.length > 0;
    if (endpoints.length > 0) connectLive(0);
    refreshJobs();
  } catch (err) {
    $("models").textContent = "The server did not answer /health.";
    showError(err.status === 401 ? `${err.message} (open the page with ?token=YOUR_TOKEN)` : err.message);
  }
}

// ---- image or video upload -------------------------------------------------------------------

function kindOf(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  if (/\.(png|jpe?g|bmp|tiff?|webp)$/i.test(file.name)) return "image";
  if (/\.(mp4|m4v|mov|avi|mkv|webm|mpe?g|ts)$/i.test(file.name)) return "video";
  return null;
}

async function onFileChosen() {
  const input = $("file-input");
  const file = input.files && input.files[0];
  if (!file) return;
  clearError();
  const kind = kindOf(file);
  input.value = ""; // the same file may be chosen again
  if (kind === "image") await analyzeImage(file);
  else if (kind === "video") await submitJob(file);
  else showError("Choose an image (PNG, JPEG, …) or a video (MP4, …).");
}

async function analyzeImage(file) {
  const status = $("analyze-status");
  const input = $("file-input");
  input.disabled = true;
  status.textContent = "Analysing the image…";
  try {
    const answer = await upload("/analyze_image", file, (f) => {
      status.textContent = f < 1 ? `Uploading ${Math.round(f * 100)} %…` : "Analysing the image…";
    });
    showImageAnswer(answer);
    status.textContent = "";
  } catch (err) {
    status.textContent = "";
    showError(err.message);
  } finally {
    input.disabled = false;
  }
}

function showImageAnswer(a) {
  $("overlay").src = `data:image/png;base64,${a.overlay_png_base64}`;
  $("runtime").textContent =
    `${a.width}×${a.height} px · model ${fmt(a.runtime_ms, 0)} ms · server ${fmt(a.server_ms, 0)} ms` +
    ` · privacy: ${a.privacy}` + (a.pose ? ` · pose ${a.pose.model}` : "");
  const parts = $("parts-table").tBodies[0];
  parts.replaceChildren();
  for (const p of a.instances || []) {
    parts.append(el("tr", { "data-class": p.name },
      el("th", { scope: "row", style: `color: ${rgb(colourOf(p.class_id))}`, text: p.name }),
      el("td", { text: p.box.join(", ") }),
      el("td", { text: `${fmt(p.centroid[0])}, ${fmt(p.centroid[1])}` }),
      el("td", { class: "num", text: String(p.area_px) }),
      el("td", { class: "num", text: fmt(p.score, 2) })));
  }
  if (!parts.rows.length) parts.append(el("tr", {}, el("td", { colspan: "5", text: "No body part found." })));
  const joints = $("joints-table").tBodies[0];
  joints.replaceChildren();
  for (const k of a.keypoints || []) {
    joints.append(el("tr", { "data-joint": k.name },
      el("th", { scope: "row", text: k.name }),
      el("td", { class: "num", text: fmt(k.x) }),
      el("td", { class: "num", text: fmt(k.y) }),
      el("td", { class: "num", text: fmt(k.score, 2) })));
  }
  if (!joints.rows.length) joints.append(el("tr", {}, el("td", { colspan: "4", text: "No joints (no pose model or no infant)." })));
  $("image-result").hidden = false;
}

// ---- video jobs ------------------------------------------------------------------------------

async function submitJob(file) {
  const input = $("file-input");
  input.disabled = true;
  showJobPanel(null, "Uploading the video…");
  try {
    const view = await upload("/jobs", file, (f) => {
      $("job-bar").value = Math.round(f * 100);
      $("job-progress-text").textContent = `Uploading ${Math.round(f * 100)} %`;
    });
    followJob(view);
    refreshJobs();
  } catch (err) {
    $("job").hidden = true;
    showError(err.message);
  } finally {
    input.disabled = false;
  }
}

function showJobPanel(id, text) {
  clearTimeout(state.pollTimer);
  state.job = id;
  const job = $("job");
  job.hidden = false;
  job.dataset.jobId = id || "";
  job.dataset.state = id ? "queued" : "uploading";
  $("job-title").textContent = id ? `Job ${id.slice(0, 8)}` : "New job";
  $("job-bar").value = 0;
  $("job-progress-text").textContent = text;
  $("job-cancel").hidden = true;
  $("job-links").replaceChildren();
  $("job-charts").hidden = true;
}

/** Show a job view and poll it until it has ended. */
function followJob(view) {
  showJobPanel(view.id, "Queued");
  renderJob(view);
}

function renderJob(v) {
  if (v.id !== state.job) return; // another job was selected meanwhile
  const job = $("job");
  job.dataset.state = v.state;
  const running = v.state === "queued" || v.state === "running";
  const total = v.frames_total || 0;
  const pct = v.state === "done" ? 100 : total > 0 ? Math.min(100, Math.floor((100 * v.frames_done) / total)) : 0;
  const bar = $("job-bar");
  if (v.state === "running" && total === 0) bar.removeAttribute("value"); // unknown length
  else bar.value = pct;
  const bits = [v.state, `${v.frames_done} / ${total || "?"} frames`, `${pct} %`];
  if (v.fps) bits.push(`${fmt(v.fps)} fps`);
  if (running && v.eta_s !== null && v.eta_s !== undefined) bits.push(`ETA ${fmt(v.eta_s, 0)} s`);
  if (!running && v.elapsed_s) bits.push(`${fmt(v.elapsed_s)} s`);
  $("job-progress-text").textContent = bits.join(" · ");
  $("job-cancel").hidden = !running;
  if (running) {
    state.pollTimer = setTimeout(() => pollJob(v.id), POLL_MS);
    return;
  }
  if (v.state === "failed") showError(`Job ${v.id.slice(0, 8)} failed: ${v.error || "unknown error"}`);
  showLinks(v);
  if (v.state === "done") loadTracks(v.id);
  refreshJobs();
}

async function pollJob(id) {
  if (id !== state.job) return;
  try {
    renderJob(await api(`/jobs/${id}`));
  } catch (err) {
    if (id !== state.job) return;
    if (err.status === 404) jobGone(id, "deleted");
    else { showError(err.message); state.pollTimer = setTimeout(() => pollJob(id), 4 * POLL_MS); }
  }
}

function jobGone(id, what) {
  clearTimeout(state.pollTimer);
  state.job = null; // answers still in flight for this job are ignored
  const job = $("job");
  job.dataset.state = what;
  $("job-progress-text").textContent = `Job ${id.slice(0, 8)} ${what}; its files are gone.`;
  $("job-cancel").hidden = true;
  $("job-links").replaceChildren();
  $("job-charts").hidden = true;
  refreshJobs();
}

async function cancelJob() {
  const id = state.job;
  if (!id) return;
  $("job-cancel").disabled = true;
  try {
    await api(`/jobs/${id}`, { method: "DELETE" });
    if (id === state.job) jobGone(id, "cancelled");
  } catch (err) {
    showError(err.message);
  } finally {
    $("job-cancel").disabled = false;
  }
}

function showLinks(v) {
  const list = $("job-links");
  list.replaceChildren();
  for (const [kind, href] of Object.entries(v.links || {})) {
    const name = (v.files && v.files[kind]) || kind;
    list.append(el("li", {}, el("a", { href, download: "", "data-kind": kind, text: `Download ${name}` })));
  }
}

async function loadTracks(id) {
  try {
    const tracks = await api(`/jobs/${id}/tracks`);
    if (id === state.job) drawJobCharts(tracks);
  } catch (err) {
    showError(err.message);
  }
}

function drawJobCharts(tr) {
  $("job-charts").hidden = false;
  const times = tr.frame_timestamps_s.filter((t) => t !== null);
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1;
  for (const [axis, canvasId, size] of [[1, "chart-x", tr.width], [2, "chart-y", tr.height]]) {
    const series = [];
    for (const pts of Object.values(tr.keypoint_tracks || {})) {
      series.push({ colour: JOINT_COLOUR, width: 1, points: pts.map((p) => [p[0], p[axis]]) });
    }
    if (tr.part_tracks) {
      // one line per Kalman track: two arms stay two lines
      for (const track of Object.values(tr.part_tracks)) {
        const points = track.points.map((p) => [p[0], p[axis]]);
        series.push({ colour: rgb(colourOf(track.class_id)), width: 2.5, points });
      }
    } else {
      for (const [cls, pts] of Object.entries(tr.tracks || {})) {
        series.push({ colour: rgb(colourOf(Number(cls))), width: 2.5, points: pts.map((p) => [p[0], p[axis]]) });
      }
    }
    drawChart($(canvasId), series, t0, t1, 0, size || 1, (t) => `${t.toFixed(1)} s`);
  }
  $("job-charts").dataset.drawn = "true";
}

/** The server's job list, newest last; each row can show its job in the panel above. */
async function refreshJobs() {
  let jobs;
  try {
    jobs = (await api("/jobs")).jobs;
  } catch (_) {
    return; // the panel shows errors of the job itself; the list is best-effort
  }
  const body = $("jobs-table").tBodies[0];
  body.replaceChildren();
  for (const v of jobs) {
    const show = el("button", { type: "button", text: "Show" });
    show.addEventListener("click", () => { clearError(); followJob(v); });
    body.append(el("tr", { "data-job-id": v.id },
      el("td", {}, el("code", { text: v.id.slice(0, 8) })),
      el("td", { text: v.state }),
      el("td", { class: "num", text: `${v.frames_done} / ${v.frames_total || "?"}` }),
      el("td", {}, show)));
  }
  if (!jobs.length) body.append(el("tr", {}, el("td", { colspan: "4", text: "No jobs yet." })));
}

// ---- live cameras ----------------------------------------------------------------------------

function connectLive(attempt) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live/ws";
  const ws = new WebSocket(url);
  let opened = false;
  ws.onopen = () => { opened = true; $("live-conn").textContent = ""; };
  ws.onmessage = (e) => {
    try { onLive(JSON.parse(e.data)); } catch (_) { /* a malformed message is skipped */ }
  };
  ws.onclose = () => {
    const next = opened ? 0 : attempt + 1;
    const delay = WS_RETRY_MS[Math.min(next, WS_RETRY_MS.length - 1)];
    $("live-conn").textContent = `Live connection closed; retrying in ${delay / 1000} s…`;
    setTimeout(() => connectLive(next), delay);
  };
}

function liveCard(source) {
  const card = el("article", { class: "live-card", "data-source": source, "aria-label": `Camera ${source}` });
  const badge = el("span", { class: "badge", "data-field": "state", text: "…" });
  card.append(el("header", {}, el("h3", { text: source }), badge));
  card.append(el("img", { alt: `Newest privacy-filtered frame of ${source}`, "data-field": "frame" }));
  const dl = el("dl");
  for (const [key, label] of [["fps", "fps"], ["latency", "latency"], ["records", "records"], ["dropped", "dropped"]]) {
    dl.append(el("dt", { text: label }), el("dd", { "data-field": key, text: "–" }));
  }
  card.append(dl);
  const legend = el("ul", { class: "legend", "aria-label": "Legend" });
  fillLegend(legend);
  card.append(legend);
  card.append(el("canvas", { "data-field": "chart-x", role: "img", "aria-label": `x over the last seconds, ${source}` }));
  card.append(el("canvas", { "data-field": "chart-y", role: "img", "aria-label": `y over the last seconds, ${source}` }));
  card.append(el("p", { class: "muted", text: "x (px, right) and y (px, down) of each part over the last seconds" }));
  card.append(el("table", { class: "features", "data-field": "features", hidden: "" }));
  $("live").append(card);
  return { card, samples: [] };
}

function onLive(msg) {
  if (msg.type !== "live") return;
  state.liveHistoryS = msg.history_s || state.liveHistoryS;
  for (const s of msg.sources || []) {
    let entry = state.live.get(s.source);
    if (!entry) { entry = liveCard(s.source); state.live.set(s.source, entry); }
    const card = entry.card;
    const field = (name) => card.querySelector(`[data-field="${name}"]`);
    const badge = field("state");
    badge.textContent = s.state;
    badge.dataset.state = s.state;
    card.dataset.state = s.state;
    field("fps").textContent = `${fmt(s.fps)}/s`;
    field("latency").textContent = s.latency_ms === null || s.latency_ms === undefined ? "–" : `${fmt(s.latency_ms, 0)} ms`;
    field("records").textContent = String(s.records ?? "–");
    const dropped = s.dropped;
    field("dropped").textContent = typeof dropped === "object" && dropped !== null
      ? String(Object.values(dropped).reduce((a, b) => a + b, 0)) : String(dropped ?? "–");
    if (s.frame_jpeg_base64) field("frame").src = `data:image/jpeg;base64,${s.frame_jpeg_base64}`;
    // Keep our own window of samples: the server sends only the ones newer than the last message.
    entry.samples.push(...(s.history || []));
    if (entry.samples.length) {
      const newest = entry.samples[entry.samples.length - 1][0];
      const oldest = newest - state.liveHistoryS;
      let cut = 0;
      while (cut < entry.samples.length && entry.samples[cut][0] < oldest) cut++;
      if (cut) entry.samples.splice(0, cut);
    }
    card.dataset.samples = String(entry.samples.length);
    drawLive(entry, s.frame_size);
    if (s.features) showFeatures(field("features"), s.features);
  }
}

const LIMB_LABELS = { arm_l: "left arm", arm_r: "right arm", leg_l: "left leg", leg_r: "right leg" };

/** Live movement features (run --features): per limb speed (trunk lengths/s), rhythm (Hz), bursts/min. */
function showFeatures(table, f) {
  table.hidden = false;
  const num = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  table.replaceChildren(
    el("caption", { text: `Movement, last ${num(f.window_s, 0)} s (${f.points_from || "no points"})` }),
    el("tr", {}, ...["limb", "speed TL/s", "rhythm Hz", "bursts/min"].map((t) => el("th", { text: t }))),
  );
  for (const [limb, v] of Object.entries(f.limbs || {})) {
    table.append(el("tr", { "data-limb": limb }, el("td", { text: LIMB_LABELS[limb] || limb }),
      el("td", { text: num(v.speed_median) }), el("td", { text: num(v.dominant_hz) }), el("td", { text: num(v.bursts_per_min, 1) })));
  }
  const a = f.asymmetry || {};
  table.append(el("tr", {}, el("td", { text: "asymmetry L−R" }),
    el("td", { colspan: "3", "data-field": "asymmetry", text: `arms ${num(a.arm)}, legs ${num(a.leg)}` })));
}

/** The last history_s seconds as dots (parts may have several instances per sample). */
function drawLive(entry, frameSize) {
  const samples = entry.samples;
  const card = entry.card;
  if (!samples.length) return;
  const now = samples[samples.length - 1][0];
  const [w, h] = frameSize || [0, 0];
  for (const [axis, name, size] of [[1, "chart-x", w], [2, "chart-y", h]]) {
    const joints = { colour: JOINT_COLOUR, width: 1.5, dots: true, points: [] };
    const byClass = new Map();
    for (const [ts, parts, kps] of samples) {
      const t = ts - now;
      for (const k of kps || []) joints.points.push([t, k[axis]]);
      for (const p of parts || []) {
        if (!byClass.has(p[0])) byClass.set(p[0], { colour: rgb(colourOf(p[0])), width: 3, dots: true, points: [] });
        byClass.get(p[0]).points.push([t, p[axis]]);
      }
    }
    const top = size || Math.max(1, ...[...byClass.values()].flatMap((s) => s.points.map((q) => q[1])));
    drawChart(card.querySelector(`[data-field="${name}"]`), [joints, ...byClass.values()],
      -state.liveHistoryS, 0, 0, top, (t) => (t > -0.05 ? "now" : `${t.toFixed(0)} s`));
  }
}

// ---- start -----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("file-input").addEventListener("change", onFileChosen);
  $("job-cancel").addEventListener("click", cancelJob);
  loadHealth();
});
