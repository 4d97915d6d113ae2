// landseg serve: the page. Plain JS and Leaflet (vendored in static/vendor, served by this server); text from
// the server and from uploaded files is set with textContent only (popups are built from DOM nodes).
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
  ["indicators_csv", "Indicators per zone (CSV)"],
  ["indicators_json", "Indicators per zone (JSON)"],
  ["indicators_gpkg", "Zones with indicators (GeoPackage, QGIS styles)"],
  ["sample_gpkg", "Reference sample points (GeoPackage)"],
  ["change_tif", "Transition map (GeoTIFF)"],
  ["change_csv", "Transitions (CSV)"],
  ["change_json", "Transitions (JSON)"],
  ["change_zones_csv", "Transitions per zone (CSV)"],
  ["report", "HTML report"],
];
const SHARES = { building_coverage: "building coverage", sealed_share: "sealed", green_share: "green", tree_share: "tree canopy" };
const RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]; // five classes, low to high
const OVER = "#d7301f", WITHIN = "#4daf4a", UNKNOWN = "#bdbdbd";

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
  let chosen = null;
  try { chosen = localStorage.getItem("landseg.model"); } catch (e) { chosen = null; }
  if (chosen && info.models.some((m) => m.name === chosen)) model.value = chosen;
  if (info.samples.length) {
    $("sample").append(...info.samples.map((s) => el("option", { value: s, text: s })));
    $("sample2").append(...info.samples.map((s) => el("option", { value: s, text: s })));
    $("sample-row").hidden = false;
    $("sample2-row").hidden = false;
  }
  if (info.indicators) $("limits-help").textContent = "A zone is flagged where its INDICATOR is over the value in the "
    + `zones file's COLUMN. Indicators: ${info.indicators.join(", ")}.`;
  $("limits").textContent = `Uploads up to ${fmt(info.max_upload_bytes / 1048576, 0)} MB. ` +
    `${info.workers} job${info.workers > 1 ? "s" : ""} at a time; others wait in the queue.`;
}

const jobKind = () => ($("kind-change").checked ? "change" : "segment");

function showKind() {
  const change = jobKind() === "change";
  $("after-row").hidden = !change;
  $("image-label").textContent = change ? "Before image (the first date)" : "Image (GeoTIFF, PNG or JPEG)";
  for (const e of document.querySelectorAll(".segment-only")) e.hidden = change;
}

function submitJob(ev) {
  ev.preventDefault();
  showFormError("");
  const kind = jobKind(), change = kind === "change";
  const image = $("image").files[0], sample = $("sample").value;
  const image2 = change ? $("image2").files[0] : null, sample2 = change ? $("sample2").value : "";
  const zones = $("zones").files[0], reference = change ? null : $("reference").files[0];
  if (!image && !sample) return showFormError(`Choose ${change ? "a before" : "an"} image file or a bundled sample.`);
  if (image && sample) return showFormError("Choose either an image file or a sample, not both.");
  if (change && !image2 && !sample2) return showFormError("Choose the after image (file or bundled sample).");
  if (change && image2 && sample2) return showFormError("Choose either an after image file or a sample, not both.");
  const limits = change ? "" : $("limits").value.trim(), indicators = !change && $("indicators").checked;
  if ((limits || indicators) && !zones) return showFormError("Indicators and limits are per zone: add a zones file.");
  const limit = state.info ? state.info.max_upload_bytes : Infinity;
  const size = [image, image2, zones, reference].reduce((n, f) => n + (f ? f.size : 0), 0);
  if (size > limit) return showFormError(`The upload (${fmt(size / 1048576, 1)} MB) is over the limit of ${fmt(limit / 1048576, 0)} MB.`);
  const fd = new FormData();
  fd.append("kind", kind);
  if (image) fd.append("image", image, image.name);
  if (sample) fd.append("sample", sample);
  if (image2) fd.append("image2", image2, image2.name);
  if (sample2) fd.append("sample2", sample2);
  fd.append("model", $("model").value);
  if (zones) fd.append("zones", zones, zones.name);
  if ($("zone_id").value.trim()) fd.append("zone_id", $("zone_id").value.trim());
  if (indicators) fd.append("indicators", "true");
  if (limits) fd.append("limits", limits);
  if (!change && $("sample_points").value.trim()) {
    fd.append("sample_points", $("sample_points").value.trim());
    if ($("seed").value.trim()) fd.append("seed", $("seed").value.trim());
  }
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
      const model = $("model").value; // the chosen model and job kind stay selected for the next job
      $("job-form").reset();
      $("model").value = model;
      $(kind === "change" ? "kind-change" : "kind-segment").checked = true;
      showKind();
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
      title: `${j.name} · ${j.model}` }, el("td", { class: "name", text: j.kind === "change" ? `${j.name} (change)` : j.name }), cell);
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
  $("result-title").textContent = job.kind === "change" ? `${job.name} → ${job.name2}` : job.name;
  const meta = [job.kind === "change" ? `change, model ${job.model}` : `model ${job.model}`];
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
  const r = job.result, files = job.files;
  const change = r.kind === "change";
  const areas = r.areas || { classes: [] };
  const present = new Set(change ? r.legend.map((c) => c.name) : areas.classes.filter((c) => c.pixels > 0).map((c) => c.name));
  $("legend").replaceChildren(...r.legend.map((c) => el("li", { "data-class": c.name, class: present.has(c.name) ? "" : "muted" },
    (() => { const s = el("span", { class: "swatch" }); s.style.background = rgb(c.color); return s; })(),
    el("span", { text: c.name }))));
  for (const id of ["area-heading", "area-source", "area-grid"]) $(id).hidden = change;
  if (!change) renderAreas(areas, r.legend);
  renderZones(change ? null : r.zones);
  renderIndicators(r.indicators);
  renderSample(r.sample);
  renderChange(r.change);
  renderAccuracy(r.accuracy);
  renderPlanning(r.planning);
  $("downloads").replaceChildren(...DOWNLOADS.filter(([k]) => files[k]).map(([k, label]) =>
    el("li", {}, el("a", { href: files[k], text: label, download: "", "data-artifact": k }))));
  $("warnings").replaceChildren(...(r.warnings || []).map((w) => el("li", { text: w })));
  $("notes").replaceChildren(...(r.note ? [el("li", { text: r.note })] : []));
  const domain = r.domain_warnings || [];
  $("domain-banner").hidden = domain.length === 0;
  $("domain-warnings").replaceChildren(...domain.map((w) => el("li", { text: w })));
  renderMap(job);
}

// ------------------------------------------------------------------ the map (Leaflet, pixel coordinates)
// Everything is drawn in the class map's pixels (map.json: [column, row], y down): Leaflet's simple CRS with
// lat = -row, lng = column. No tiles and no projection: images without georeferencing show the same way.
const toLatLng = (c) => L.latLng(-c[1], c[0]);

function ensureMap() {
  if (state.map) return state.map;
  const map = L.map("map", { crs: L.CRS.Simple, minZoom: -12, maxZoom: 8, zoomSnap: 0.25, attributionControl: false });
  state.map = map;
  state.layers = { base: null, classes: null, zones: null, points: null };
  return map;
}

async function renderMap(job) {
  const map = ensureMap(), files = job.files, v = `?v=${job.finished}`;
  map.invalidateSize();
  for (const layer of Object.values(state.layers)) if (layer) map.removeLayer(layer);
  state.layers = { base: null, classes: null, zones: null, points: null };
  $("map").dataset.ready = "";
  let data = null;
  try {
    data = files.map ? await api(files.map + v) : null;
  } catch (e) {
    $("map-note").textContent = `The zones and points could not be loaded: ${e.message}`;
  }
  if (state.current !== job.id) return;
  const size = data ? [data.width, data.height] : job.result.size;
  const bounds = L.latLngBounds([[-size[1], 0], [0, size[0]]]);
  if (files.image) state.layers.base = L.imageOverlay(files.image + v, bounds, { className: "base-layer", alt: "the image" }).addTo(map);
  if (files.layer) {
    state.layers.classes = L.imageOverlay(files.layer + v, bounds, { className: "class-layer", alt: "the classes" }).addTo(map);
  }
  setOpacity();
  map.fitBounds(bounds);
  map.setMaxBounds(bounds.pad(0.5));
  state.mapData = data;
  if (data) {
    drawZones(job, data.zones);
    drawPoints(job, data.points);
    const parts = [];
    if (data.zones.features.length) parts.push(`${data.zones.features.length} zones (click one for its figures)`);
    if (data.points.features.length) parts.push(`${data.points.features.length} sample points`);
    parts.push(data.georeferenced ? "drawn in the image's pixel grid" : "no georeferencing: drawn in pixels");
    $("map-note").textContent = parts.join(" · ");
  }
  $("map").dataset.ready = "1";
}

function colourModes(result) {
  // [value, label] of the zone colourings this result offers
  const modes = [["none", "outline only"]];
  const ind = result.indicators;
  if (ind && ind.zones.length) {
    for (const c of ind.limits || []) modes.push([`limit:${c.column}`, `over the limit ${c.column} (${c.indicator})`]);
    for (const [key, label] of Object.entries(SHARES)) {
      if (ind.zones.some((z) => z[key] !== null && z[key] !== undefined)) modes.push([key, label]);
    }
    if (ind.zones.some((z) => z.buildings !== null && z.buildings !== undefined)) modes.push(["buildings", "number of buildings"]);
  }
  // planning columns (canopy share, 3-30-300 shares, ...): any share column the indicators do not offer already
  const plan = result.planning && result.planning.zones;
  if (plan && plan.length) {
    const offered = new Set(modes.map(([m]) => m));
    for (const c of Object.keys(plan[0])) {
      if (c === "id" || !/share|coverage/.test(c) || offered.has(c)) continue;
      if (plan.some((z) => typeof z[c] === "number" && z[c] >= 0 && z[c] <= 1)) modes.push([`plan:${c}`, c.replaceAll("_", " ")]);
    }
  }
  if (result.change && result.change.zones) modes.push(["changed", "changed share"]);
  return modes;
}

function zoneValue(result, mode, k) {
  // the number (or limit breach) a zone is coloured by
  if (mode === "changed") {
    const z = result.change.zones[k], m = z.matrix_pixels;
    const total = m.flat().reduce((a, b) => a + b, 0), same = m.reduce((a, row, i) => a + row[i], 0);
    return total ? (total - same) / total : null;
  }
  if (mode.startsWith("plan:")) {
    // planning rows are matched to the map's zones by id (a zone off the map has no row)
    const f = state.mapData && state.mapData.zones.features.find((x) => x.properties.k === k);
    const row = f && result.planning.zones.find((p) => String(p.id) === String(f.properties.id));
    const v = row ? row[mode.slice(5)] : null;
    return typeof v === "number" ? v : null;
  }
  const z = result.indicators && result.indicators.zones[k];
  if (!z) return null;
  if (mode.startsWith("limit:")) { const l = z.limits[mode.slice(6)]; return l ? l.exceeds : null; }
  return z[mode];
}

function zoneStyle(result, mode, k, max) {
  // the fill and a thick outline in the zone's colour, so zones read over any class colours
  const style = (colour) => ({ color: colour, fillColor: colour, weight: 3, opacity: 1, fillOpacity: 0.4 });
  if (mode === "none") return { color: "#1d2327", weight: 2, opacity: 0.9, fillColor: "#ffffff", fillOpacity: 0.05 };
  const v = zoneValue(result, mode, k);
  if (mode.startsWith("limit:")) return style(v === true ? OVER : v === false ? WITHIN : UNKNOWN);
  if (v === null || v === undefined) return style(UNKNOWN);
  const top = mode === "buildings" ? Math.max(max, 1) : 1;
  return style(RAMP[Math.min(RAMP.length - 1, Math.floor((RAMP.length * v) / top))]);
}

function zoneLegend(result, mode, max) {
  const item = (colour, text) => el("li", {}, (() => { const s = el("span", { class: "swatch" }); s.style.background = colour; return s; })(),
    el("span", { text }));
  const ul = $("zone-legend");
  ul.hidden = mode === "none";
  if (mode.startsWith("limit:")) {
    ul.replaceChildren(el("li", { class: "legend-title", text: `Zones, ${mode.slice(6)}:` }), item(OVER, "over the limit"),
      item(WITHIN, "within"), item(UNKNOWN, "no limit or no value"));
    return;
  }
  const top = mode === "buildings" ? Math.max(max, 1) : 1, step = top / RAMP.length;
  const label = (i) => (mode === "buildings" ? `${fmt(i * step, 1)}–${fmt((i + 1) * step, 1)}`
    : `${fmt(100 * i * step, 0)}–${fmt(100 * (i + 1) * step, 0)} %`);
  const title = (colourModes(result).find(([m]) => m === mode) || [mode, mode])[1];
  ul.replaceChildren(el("li", { class: "legend-title", text: `Zones, ${title}:` }), ...RAMP.map((c, i) => item(c, label(i))),
    item(UNKNOWN, "n/a"));
}

function drawZones(job, zones) {
  const result = job.result, map = state.map;
  const modes = colourModes(result);
  const select = $("colour-by");
  select.replaceChildren(...modes.map(([m, label]) => el("option", { value: m, text: label })));
  $("colour-by-row").hidden = !zones.features.length || modes.length < 2;
  const first = modes.find(([m]) => m.startsWith("limit:")) || modes.find(([m]) => m === "building_coverage") || modes[modes.length - 1];
  select.value = first[0];
  state.zoneLayers = {};
  if (!zones.features.length) { $("zone-legend").hidden = true; return; }
  const layer = L.geoJSON(zones, {
    coordsToLatLng: toLatLng,
    onEachFeature: (f, lyr) => lyr.bindPopup(() => zonePopup(result, f.properties.k, f.properties.id), { maxWidth: 360 }),
  });
  state.layers.zones = layer.addTo(map);
  const restyle = () => {
    const mode = select.value, ks = zones.features.map((f) => f.properties.k);
    const max = mode === "buildings" ? Math.max(0, ...ks.map((k) => zoneValue(result, mode, k) || 0)) : 1;
    layer.eachLayer((lyr) => {
      lyr.setStyle(zoneStyle(result, mode, lyr.feature.properties.k, max));
      const path = lyr.getElement && lyr.getElement();
      if (path) { path.setAttribute("data-zone", String(lyr.feature.properties.id)); path.classList.add("zone"); }
    });
    zoneLegend(result, mode, max);
  };
  select.onchange = restyle;
  restyle();
  layer.eachLayer((lyr) => { state.zoneLayers[lyr.feature.properties.k] = lyr; });
}

function drawPoints(job, points) {
  if (!points.features.length) return;
  const colours = Object.fromEntries(job.result.legend.map((c) => [c.name, rgb(c.color)]));
  state.layers.points = L.geoJSON(points, {
    coordsToLatLng: toLatLng,
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 5, color: "#000", weight: 1.5, fillOpacity: 1,
      fillColor: colours[f.properties.map_class] || "#fff", className: "sample-point" }),
    onEachFeature: (f, lyr) => lyr.bindTooltip(() => el("span", { text: `sample point: mapped ${f.properties.map_class}`
      + (f.properties.reference ? `, reference ${f.properties.reference}` : "") })),
  }).addTo(state.map);
}

function zonePopup(result, k, id) {
  // the zone's figures as DOM nodes (zone names come from the user's file: textContent only)
  const box = el("div", { class: "zone-popup", "data-zone": String(id) }, el("h4", { text: `Zone ${id}` }));
  const rows = [];
  const add = (label, value, cls) => rows.push(el("tr", { class: cls || "" }, el("th", { text: label }), el("td", { class: "num", text: value })));
  const zr = result.zones && result.zones.zones[k];
  if (zr) {
    add("zone area", `${fmt(zr.zone_area_m2)} m²`);
    add("inside the image", pct(zr.covered_share));
    for (const [name, c] of Object.entries(zr.classes)) if (c.area_m2) add(name, `${fmt(c.area_m2)} m²`, "class-area");
  }
  const zi = result.indicators && result.indicators.zones[k];
  if (zi) {
    for (const [key, label] of Object.entries(SHARES)) add(label, pct(zi[key]), "indicator");
    add("buildings", zi.buildings === null || zi.buildings === undefined ? "—" : String(zi.buildings), "indicator");
    for (const [col, l] of Object.entries(zi.limits || {})) {
      const shown = l.indicator in SHARES ? pct(l.limit) : fmt(l.limit, 2);
      add(`${col} (${l.indicator} ≤ ${shown})`, l.exceeds === true ? "over the limit" : l.exceeds === false ? "within" : "n/a",
        l.exceeds ? "limit over" : "limit");
    }
  }
  const zc = result.change && result.change.zones && result.change.zones[k];
  if (zc) {
    const names = result.change.classes, m = zc.matrix_m2, px = zc.matrix_pixels;
    const known = m.every((row) => row.every((x) => x !== null));
    const val = (i, j) => (known ? m[i][j] : px[i][j]), unit = known ? " m²" : " px";
    let total = 0, same = 0;
    const moves = [];
    names.forEach((a, i) => names.forEach((b, j) => { total += val(i, j); if (i === j) same += val(i, j); else if (val(i, j)) moves.push([val(i, j), `${a} → ${b}`]); }));
    add("changed", `${fmt(total - same)}${unit} of ${fmt(total)}${unit}`);
    for (const [v, name] of moves.sort((x, y) => y[0] - x[0]).slice(0, 5)) add(name, `${fmt(v)}${unit}`, "transition");
  }
  box.append(el("table", {}, el("tbody", {}, ...rows)));
  return box;
}

function openZone(k) {
  const lyr = state.zoneLayers && state.zoneLayers[k];
  if (!lyr) return;
  // no animation: the popup opens on the zone's final place (and pans the map to show itself whole)
  state.map.fitBounds(lyr.getBounds().pad(0.6), { maxZoom: state.map.getZoom() + 2, animate: false });
  lyr.openPopup();
}

function renderIndicators(ind) {
  const sec = $("indicators-section");
  sec.hidden = !ind || !ind.zones || !ind.zones.length;
  if (sec.hidden) return;
  $("indicators-file").textContent = `(${ind.zones_file}, ${ind.zones.length} zones)`;
  const limits = ind.limits || [];
  const head = el("tr", {}, el("th", { text: ind.zone_id || "zone" }), el("th", { class: "num", text: "Valid area (m²)" }),
    ...Object.values(SHARES).map((h) => el("th", { class: "num", text: h })), el("th", { class: "num", text: "Buildings" }),
    ...limits.map((c) => el("th", { class: "num", text: `${c.column} (${c.indicator})` })));
  const rows = ind.zones.slice(0, 500).map((z, k) => {
    const tr = el("tr", { "data-zone": String(z.id), class: "clickable" }, el("td", { text: String(z.id) }),
      numCell(z.valid_m2, "valid-m2", "", fmt(z.valid_m2)),
      ...Object.keys(SHARES).map((key) => numCell(z[key], key, "", pct(z[key]))),
      numCell(z.buildings, "buildings", "", z.buildings === null || z.buildings === undefined ? "—" : String(z.buildings)),
      ...limits.map((c) => {
        const l = z.limits[c.column] || {};
        const td = numCell(l.exceeds === null || l.exceeds === undefined ? "" : String(l.exceeds), `limit ${l.exceeds ? "over" : ""}`, c.column,
          l.exceeds === true ? "over the limit" : l.exceeds === false ? "within" : "n/a");
        td.title = `limit ${c.indicator in SHARES ? pct(l.limit) : fmt(l.limit)}`;
        return td;
      }));
    tr.addEventListener("click", () => openZone(k));
    return tr;
  });
  $("indicators-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const summary = limits.map((c) => `${c.column} on ${c.indicator}: ${c.exceedances} of ${ind.zones.length} zones over the limit.`);
  $("indicators-rules").textContent = [...summary, `Zone area: ${ind.zone_area_rule}.`, `Buildings: ${ind.building_rule}.`,
    ...(ind.notes || []).map((n) => `Note: ${n}.`)].join(" ");
}

function renderSample(sample) {
  const sec = $("sample-section");
  sec.hidden = !sample;
  if (sec.hidden) return;
  $("sample-count").textContent = `(${sample.n_drawn} points, seed ${sample.seed})`;
  const head = el("tr", {}, el("th", { text: "Stratum (mapped class)" }), el("th", { class: "num", text: "Pixels" }),
    el("th", { class: "num", text: "Points" }));
  const rows = sample.strata.map((c) => el("tr", { "data-class": c.name }, el("td", { text: c.name }),
    numCell(c.pixels, "pixels", c.name, fmt(c.pixels, 0)), numCell(c.sample_size, "points", c.name, fmt(c.sample_size, 0))));
  $("sample-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function renderChange(change) {
  const sec = $("change-section");
  sec.hidden = !change;
  if (sec.hidden) return;
  $("change-names").textContent = `(${change.before} → ${change.after})`;
  const known = change.total_m2 !== null && change.total_m2 !== undefined;
  const m = known ? change.matrix_m2 : change.matrix_pixels, unit = known ? "m²" : "px";
  const total = m.flat().reduce((a, b) => a + (b || 0), 0), same = m.reduce((a, row, i) => a + (row[i] || 0), 0);
  $("change-headline").textContent = `Changed: ${fmt(total - same)} ${unit} of ${fmt(total)} ${unit} (${pct(total ? (total - same) / total : null)}).`;
  const names = change.classes;
  const head = el("tr", {}, el("th", { text: `before \\ after (${unit})` }), ...names.map((n) => el("th", { class: "num", text: n })));
  const rows = names.map((a, i) => el("tr", { "data-class": a }, el("td", { text: a }),
    ...names.map((b, j) => { const td = numCell(m[i][j], i === j ? "same" : "moved", `${a}->${b}`, fmt(m[i][j])); return td; })));
  $("change-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
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
  // an accuracy with its 95 % interval (low–high: Wilson's where the normal one would have zero width)
  const pm = (v, lo, hi) => (v === null || v === undefined ? "–" : pct(v) +
    (lo === null || lo === undefined || hi === null || hi === undefined ? "" : ` (${pct(lo)}–${pct(hi)})`));
  const rows = acc.classes.map((c) => el("tr", { "data-class": c.name }, el("td", { text: c.name }),
    numCell(c.sample_size, "sample", c.name, fmt(c.sample_size, 0)),
    numCell(known ? c.mapped_m2 : c.mapped_pixels, `mapped-${key}`, c.name, fmt(known ? c.mapped_m2 : c.mapped_pixels)),
    numCell(c[`adjusted_${key}`], `adjusted-${key}`, c.name, fmt(c[`adjusted_${key}`])),
    numCell(c[`ci95_${key}`], `ci95-${key}`, c.name, fmt(c[`ci95_${key}`])),
    numCell(c.users_accuracy, "users", c.name, pm(c.users_accuracy, c.users_ci95_low, c.users_ci95_high)),
    numCell(c.producers_accuracy, "producers", c.name, pm(c.producers_accuracy, c.producers_ci95_low, c.producers_ci95_high))));
  $("accuracy-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const oa = acc.overall_accuracy || {};
  $("accuracy-overall").textContent = `Overall accuracy: ${pm(oa.value, oa.ci95_low, oa.ci95_high)} (95 % confidence).`;
  $("accuracy-method").textContent = `Method: ${acc.method || ""}.` + (acc.notes || []).map((n) => ` Note: ${n}.`).join("");
}

function renderPlanning(planning) {
  // planning indicators per zone (shares, buildings, 3-30-300, calibrated sealed/green m² with 95 % bounds):
  // one table with every column the API sends; its section is made here, after the accuracy section
  let sec = $("planning-section");
  if (!sec) {
    sec = el("div", { id: "planning-section" }, el("h3", { text: "Planning indicators per zone" }),
      el("div", { class: "scroll" }, el("table", { id: "planning-table", class: "planning" })),
      el("p", { id: "planning-rules", class: "muted" }));
    $("accuracy-section").after(sec);
  }
  const zones = planning && planning.zones ? planning.zones : [];
  sec.hidden = !zones.length;
  if (!zones.length) return;
  const cols = Object.keys(zones[0]).filter((k) => k !== "id");
  const text = (k, v) => v === null || v === undefined ? "–" : typeof v === "boolean" ? (v ? "yes" : "no")
    : typeof v === "number" ? (/share|coverage/.test(k) ? `${fmt(100 * v)} %` : fmt(v)) : String(v);
  const head = el("tr", {}, el("th", { text: planning.zone_id || "zone" }),
    ...cols.map((k) => el("th", { class: "num", text: k })));
  const rows = zones.slice(0, 500).map((z) => el("tr", { "data-zone": String(z.id) }, el("td", { text: String(z.id) }),
    ...cols.map((k) => el("td", { class: `num ${k}`, "data-value": typeof z[k] === "number" ? String(z[k]) : "",
      text: text(k, z[k]) }))));
  $("planning-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  const more = zones.length > 500 ? ` First 500 of ${zones.length} zones shown.` : "";
  $("planning-rules").textContent = [...(planning.rules || []), ...(planning.notes || []).map((n) => `Note: ${n}`)]
    .join(" ") + more;
}

function setOpacity() {
  const v = Number($("opacity").value);
  if (state.layers && state.layers.classes) state.layers.classes.setOpacity(v / 100);
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
  for (const r of document.querySelectorAll("input[name=kind]")) r.addEventListener("change", showKind);
  $("model").addEventListener("change", () => { try { localStorage.setItem("landseg.model", $("model").value); } catch (e) { /* private mode */ } });
  window.addEventListener("resize", () => { if (state.map) state.map.invalidateSize(); });
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
