// landseg serve: the page. Plain JS, no libraries; text from the server is set with textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, jobs: [], current: null, jobTimer: null, listTimer: null };
const DOWNLOADS = [
  ["classes", "Class map (GeoTIFF)"],
  ["polygons", "Polygons (GeoPackage)"],
  ["areas_csv", "Class areas (CSV)"],
  ["areas_json", "Class areas (JSON)"],
  ["zones_csv", "Areas per zone (CSV)"],
  ["zones_json", "Areas per zone (JSON)"],
  ["zones_gpkg", "Zones with areas (GeoPackage)"],
  ["accuracy_csv", "Accuracy and adjusted areas (CSV)"],
  ["accuracy_json", "Accuracy and adjusted areas (JSON)"],
  ["report", "HTML report"],
];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function fmt(v, digits = 2) {
  if (v === null || v === undefined || !isFinite(v)) return "—";
  return Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const pct = (v) => (v === null || v === undefined || !isFinite(v) ? "—" : fmt(100 * v, 2) + " %");
const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

async function api(path, options = {}) {
  const r = await fetch(path, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : r.statusText;
    throw new Error(msg || `HTTP ${r.status}`);
  }
  return body;
}

// ------------------------------------------------------------------ form
function showFormError(msg) {
  const p = $("form-error");
  p.textContent = msg || "";
  p.hidden = !msg;
}

async function loadInfo() {
  const info = await api("/api/info");
  state.info = info;
  const model = $("model");
  model.replaceChildren(...info.models.map((m) => el("option", {
    value: m.name, text: `${m.name} (${m.classes.length} classes, ${m.bands} bands${m.pixel_size ? ", " + m.pixel_size + " m" : ""})`,
  })));
  if (info.samples.length) {
    $("sample").append(...info.samples.map((s) => el("option", { value: s, text: s })));
    $("sample-row").hidden = false;
  }
  $("limits").textContent = `Uploads up to ${fmt(info.max_upload_bytes / 1048576, 0)} MB. ` +
    `${info.workers} job${info.workers > 1 ? "s" : ""} at a time; others wait in the queue.`;
}

function submitJob(ev) {
  ev.preventDefault();
  showFormError("");
  const image = $("image").files[0], sample = $("sample").value;
  const zones = $("zones").files[0], reference = $("reference").files[0];
  if (!image && !sample) return showFormError("Choose an image file or a bundled sample.");
  if (image && sample) return showFormError("Choose either an image file or a sample, not both.");
  const limit = state.info ? state.info.max_upload_bytes : Infinity;
  const size = (image ? image.size : 0) + (zones ? zones.size : 0) + (reference ? reference.size : 0);
  if (size > limit) return showFormError(`The upload (${fmt(size / 1048576, 1)} MB) is over the limit of ${fmt(limit / 1048576, 0)} MB.`);
  const fd = new FormData();
  if (image) fd.append("image", image, image.name);
  if (sample) fd.append("sample", sample);
  fd.append("model", $("model").value);
  if (zones) fd.append("zones", zones, zones.name);
  if ($("zone_id").value.trim()) fd.append("zone_id", $("zone_id").value.trim());
  if (reference) fd.append("reference", reference, reference.name);
  if ($("gsd").value.trim()) fd.append("gsd", $("gsd").value.trim());
  const xhr = new XMLHttpRequest();
  const bar = $("upload-progress");
  $("start").disabled = true;
  bar.hidden = false;
  bar.value = 0;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    $("start").disabled = false;
    bar.hidden = true;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (xhr.status === 202 && body) {
      $("job-form").reset();
      refreshJobs();
      selectJob(body.id);
    } else {
      const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : xhr.statusText;
      showFormError(`Not started: ${detail || "HTTP " + xhr.status}`);
    }
  };
  xhr.onerror = () => {
    $("start").disabled = false;
    bar.hidden = true;
    showFormError("The upload failed (connection closed; is the file over the size limit or the server stopped?).");
  };
  xhr.open("POST", "/api/jobs");
  xhr.send(fd);
}

// ------------------------------------------------------------------ job list
function statusText(j) {
  if (j.status === "queued") return j.queue_position ? `queued (#${j.queue_position})` : "queued";
  if (j.status === "running") {
    const p = j.progress;
    return p.total && j.stage === "segmenting" ? `${j.stage} ${p.done}/${p.total}` : j.stage || "running";
  }
  return j.status;
}

function renderJobs() {
  const tbody = $("job-table").tBodies[0];
  $("no-jobs").hidden = state.jobs.length > 0;
  tbody.replaceChildren(...state.jobs.map((j) => {
    const status = el("span", { class: `status ${j.status}`, text: statusText(j) });
    const cell = el("td", {}, status);
    if (j.status === "running" && j.progress.total) {
      cell.append(el("progress", { class: "job-progress", max: j.progress.total, value: j.progress.done }));
    }
    const tr = el("tr", { "data-job": j.id, "data-status": j.status, class: j.id === state.current ? "selected" : "",
      title: `${j.name} · ${j.model}` }, el("td", { class: "name", text: j.name }), cell);
    tr.addEventListener("click", () => selectJob(j.id));
    return tr;
  }));
  const c = state.counts || {};
  $("job-counts").textContent = state.jobs.length ? `${c.running || 0} running, ${c.queued || 0} queued` : "";
}

async function refreshJobs() {
  clearTimeout(state.listTimer);
  try {
    const data = await api("/api/jobs?limit=50");
    state.jobs = data.jobs;
    state.counts = data.counts;
    renderJobs();
  } catch (e) { /* the server may be restarting: try again */ }
  const active = state.jobs.some((j) => j.status === "queued" || j.status === "running");
  state.listTimer = setTimeout(refreshJobs, active ? 1000 : 5000);
}

// ------------------------------------------------------------------ one job
function selectJob(id) {
  if (location.hash !== `#job=${id}`) history.replaceState(null, "", `#job=${id}`);
  state.current = id;
  state.shown = null;
  renderJobs();
  pollJob();
}

async function pollJob() {
  clearTimeout(state.jobTimer);
  const id = state.current;
  if (!id) return;
  let job;
  try {
    job = await api(`/api/jobs/${encodeURIComponent(id)}`);
  } catch (e) {
    $("welcome").hidden = true;
    $("result").hidden = false;
    $("result-title").textContent = "Job not found";
    $("result-meta").textContent = e.message;
    $("result-status").hidden = true;
    $("result-body").hidden = true;
    $("result-error").hidden = true;
    return;
  }
  if (id !== state.current) return;
  renderJob(job);
  if (job.status === "queued" || job.status === "running") state.jobTimer = setTimeout(pollJob, 500);
}

function renderJob(job) {
  $("welcome").hidden = true;
  $("result").hidden = false;
  $("result").dataset.status = job.status;
  $("result").dataset.job = job.id;
  $("result-title").textContent = job.name;
  const meta = [`model ${job.model}`];
  if (job.zones_name) meta.push(`zones ${job.zones_name}`);
  if (job.reference_name) meta.push(`reference ${job.reference_name}`);
  const r = job.result;
  if (r) {
    meta.push(`${r.size[0].toLocaleString("en-US")} × ${r.size[1].toLocaleString("en-US")} pixels`);
    meta.push(r.crs || "no georeferencing");
    meta.push(`${r.seconds} s`);
  }
  $("result-meta").textContent = meta.join(" · ");
  const active = job.status === "queued" || job.status === "running";
  $("result-status").hidden = !active;
  if (active) {
    const p = job.progress;
    let text = job.status === "queued"
      ? `Waiting in the queue${job.queue_position ? " (position " + job.queue_position + ")" : ""}…`
      : `${job.stage || "running"}…`;
    if (job.stage === "segmenting" && p.total) text += ` ${p.done} of ${p.total} windows`;
    $("result-stage").textContent = text;
    const bar = $("result-progress");
    if (p.total) { bar.max = p.total; bar.value = p.done; } else { bar.removeAttribute("value"); }
  }
  $("result-error").hidden = job.status !== "failed";
  $("result-error-text").textContent = job.status === "failed" ? `This job failed: ${job.error}` : "";
  $("result-body").hidden = job.status !== "done";
  if (job.status === "done" && state.shown !== job.id + job.finished) {
    state.shown = job.id + job.finished;
    renderResult(job);
  }
}

function renderResult(job) {
  const r = job.result, files = job.files, v = `?v=${job.finished}`;
  $("base-img").src = files.image ? files.image + v : "";
  $("layer-img").src = files.layer ? files.layer + v : "";
  setOpacity();
  const areas = r.areas || { classes: [] };
  const present = new Set(areas.classes.filter((c) => c.pixels > 0).map((c) => c.name));
  $("legend").replaceChildren(...r.legend.map((c) => el("li", { "data-class": c.name, class: present.has(c.name) ? "" : "muted" },
    (() => { const s = el("span", { class: "swatch" }); s.style.background = rgb(c.color); return s; })(),
    el("span", { text: c.name }))));
  renderAreas(areas, r.legend);
  renderZones(r.zones);
  renderAccuracy(r.accuracy);
  $("downloads").replaceChildren(...DOWNLOADS.filter(([k]) => files[k]).map(([k, label]) =>
    el("li", {}, el("a", { href: files[k], text: label, download: "", "data-artifact": k }))));
  $("warnings").replaceChildren(...(r.warnings || []).map((w) => el("li", { text: w })));
  $("notes").replaceChildren(...(r.note ? [el("li", { text: r.note })] : []));
  const domain = r.domain_warnings || [];
  $("domain-banner").hidden = domain.length === 0;
  $("domain-warnings").replaceChildren(...domain.map((w) => el("li", { text: w })));
}

function numCell(value, cls, name, text) {
  return el("td", { class: `num ${cls}`, "data-class": name, "data-value": value === null || value === undefined ? "" : String(value),
    text: text });
}

function renderAreas(areas, legend) {
  const known = areas.classes.some((c) => c.area_m2 !== null && c.area_m2 !== undefined);
  // columns: area in m² and ha only where the pixel size is known
  const row = (c, name, label, attrs = {}) => el("tr", { "data-class": name, ...attrs }, el("td", { text: label }),
    numCell(c.pixels, "pixels", name, fmt(c.pixels, 0)),
    known ? numCell(c.area_m2, "area-m2", name, fmt(c.area_m2)) : null,
    known ? numCell(c.area_ha, "area-ha", name, fmt(c.area_ha, 4)) : null,
    numCell(c.share, "share", name, pct(c.share)));
  const head = el("tr", {}, el("th", { text: "Class" }), el("th", { class: "num", text: "Pixels" }),
    known ? el("th", { class: "num", text: "Area (m²)" }) : null, known ? el("th", { class: "num", text: "Area (ha)" }) : null,
    el("th", { class: "num", text: "Share" }));
  const rows = areas.classes.map((c) => row(c, c.name, c.name));
  if (areas.total) rows.push(row(areas.total, "total", "Total", { class: "total" }));
  $("area-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const source = known ? [`Pixel area: ${areas.pixel_area}.`]
    : ["This image has no georeferencing: pixel counts and shares only. For areas in m², upload a georeferenced "
      + "GeoTIFF or start the job again with the pixel size (under “Zones and pixel size”)."];
  if (areas.nodata && areas.nodata.pixels) source.push(`${fmt(areas.nodata.pixels, 0)} nodata pixels are not counted.`);
  if (known) for (const n of areas.notes || []) source.push(n);
  $("area-source").textContent = source.join(" ");
  // bar chart: areas (or pixels where the area is unknown)
  const colors = Object.fromEntries(legend.map((c) => [c.name, c.color]));
  const values = areas.classes.map((c) => (known ? c.area_m2 : c.pixels) || 0);
  const max = Math.max(...values, 0) || 1;
  const unit = known ? " m²" : " px";
  $("area-chart").replaceChildren(...areas.classes.map((c, i) => {
    const bar = el("div", { class: "bar" });
    bar.style.width = `${(100 * values[i]) / max}%`;
    bar.style.background = rgb(colors[c.name] || [128, 128, 128]);
    return el("div", { class: "bar-row", "data-class": c.name }, el("span", { class: "bar-label", text: c.name, title: c.name }),
      el("div", { class: "bar-track" }, bar), el("span", { class: "bar-value", text: fmt(values[i], known && values[i] < 10 ? 2 : 0) + unit }));
  }));
}

function renderZones(zones) {
  const sec = $("zones-section");
  sec.hidden = !zones || !zones.zones || !zones.zones.length;
  if (sec.hidden) return;
  $("zones-file").textContent = `(${zones.zones_file}, ${zones.zones.length} zones)`;
  const classes = Object.keys(zones.zones[0].classes);
  const head = el("tr", {}, el("th", { text: zones.zone_id || "zone" }), el("th", { class: "num", text: "Zone (m²)" }),
    el("th", { class: "num", text: "Inside image" }), ...classes.map((c) => el("th", { class: "num", text: `${c} (m²)` })),
    el("th", { class: "num", text: "Nodata (m²)" }));
  const rows = zones.zones.slice(0, 500).map((z) => el("tr", { "data-zone": String(z.id) }, el("td", { text: String(z.id) }),
    numCell(z.zone_area_m2, "zone-m2", "", fmt(z.zone_area_m2)), numCell(z.covered_share, "inside", "", pct(z.covered_share)),
    ...classes.map((c) => numCell(z.classes[c].area_m2, "area-m2", c, fmt(z.classes[c].area_m2))),
    numCell(z.nodata_m2, "nodata-m2", "", fmt(z.nodata_m2))));
  $("zones-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const more = zones.zones.length > 500 ? ` First 500 of ${zones.zones.length} zones shown; all are in the downloads.` : "";
  $("zones-rule").textContent = `Coverage rule: ${zones.coverage_rule || ""}.${more}`;
}

function renderAccuracy(acc) {
  // error-adjusted areas with their 95 % intervals, user's and producer's accuracy (Olofsson et al. 2014)
  const sec = $("accuracy-section");
  sec.hidden = !acc || !acc.classes || !acc.classes.length;
  if (sec.hidden) return;
  const known = acc.classes.every((c) => c.mapped_m2 !== null && c.mapped_m2 !== undefined);
  const key = known ? "m2" : "pixels", unit = known ? "m²" : "px";
  $("accuracy-file").textContent = `(${acc.reference}, ${acc.points.labelled} labelled points)`;
  const head = el("tr", {}, el("th", { text: "Class" }), el("th", { class: "num", text: "Sample" }),
    el("th", { class: "num", text: `Mapped (${unit})` }), el("th", { class: "num", text: `Adjusted (${unit})` }),
    el("th", { class: "num", text: `± 95 % (${unit})` }), el("th", { class: "num", text: "User's" }),
    el("th", { class: "num", text: "Producer's" }));
  const pm = (v, ci) => (v === null || v === undefined ? "–" : pct(v) + (ci === null || ci === undefined ? "" : ` ± ${pct(ci)}`));
  const rows = acc.classes.map((c) => el("tr", { "data-class": c.name }, el("td", { text: c.name }),
    numCell(c.sample_size, "sample", c.name, fmt(c.sample_size, 0)),
    numCell(known ? c.mapped_m2 : c.mapped_pixels, `mapped-${key}`, c.name, fmt(known ? c.mapped_m2 : c.mapped_pixels)),
    numCell(c[`adjusted_${key}`], `adjusted-${key}`, c.name, fmt(c[`adjusted_${key}`])),
    numCell(c[`ci95_${key}`], `ci95-${key}`, c.name, fmt(c[`ci95_${key}`])),
    numCell(c.users_accuracy, "users", c.name, pm(c.users_accuracy, c.users_ci95)),
    numCell(c.producers_accuracy, "producers", c.name, pm(c.producers_accuracy, c.producers_ci95))));
  $("accuracy-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const oa = acc.overall_accuracy || {};
  $("accuracy-overall").textContent = `Overall accuracy: ${pm(oa.value, oa.ci95)} (95 % confidence).`;
  $("accuracy-method").textContent = `Method: ${acc.method || ""}.` + (acc.notes || []).map((n) => ` Note: ${n}.`).join("");
}

function fitImage() {
  // show the image as large as fits: the panel's width, at most 720 px wide and 70% of the window high
  const img = $("base-img");
  if (!img.naturalWidth) return;
  const room = $("result").clientWidth - 40;
  const w = Math.min(room, 720, (0.7 * window.innerHeight * img.naturalWidth) / img.naturalHeight);
  img.parentElement.style.width = `${Math.max(160, Math.floor(w))}px`;
}

function setOpacity() {
  const v = Number($("opacity").value);
  $("layer-img").style.opacity = String(v / 100);
  $("opacity-value").textContent = `${v}%`;
}

async function retry() {
  if (!state.current) return;
  try {
    await api(`/api/jobs/${encodeURIComponent(state.current)}/retry`, { method: "POST" });
    refreshJobs();
    pollJob();
  } catch (e) {
    $("result-error-text").textContent = `Could not start it again: ${e.message}`;
  }
}

function fromHash() {
  const m = /^#job=([0-9a-f]{32})$/.exec(location.hash);
  if (m && m[1] !== state.current) selectJob(m[1]);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("job-form").addEventListener("submit", submitJob);
  $("opacity").addEventListener("input", setOpacity);
  $("base-img").addEventListener("load", fitImage);
  window.addEventListener("resize", fitImage);
  $("retry").addEventListener("click", retry);
  window.addEventListener("hashchange", fromHash);
  try {
    await loadInfo();
  } catch (e) {
    showFormError(`Cannot reach the server: ${e.message}`);
  }
  refreshJobs();
  fromHash();
});
