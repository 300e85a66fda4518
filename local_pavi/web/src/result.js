// Alignment result page of the local PAVI stand-in.
//
// It mirrors what PAVI's web UI shows at /result?uuid=<job uuid> (the InteractiveAlignment
// component): the same npm components, the same markup and attributes, so a browser benchmark
// measures the same rendering work. It is plain DOM code, written for this project.
//
// Progress is published on window.__pavi and document.body.dataset.paviState so automated
// tests and the browser benchmark can wait for a real first draw instead of guessing.

import { parse } from "clustal-js";
import NightingaleManager from "@nightingale-elements/nightingale-manager";
import NightingaleMSA from "@nightingale-elements/nightingale-msa";
import NightingaleNavigation from "@nightingale-elements/nightingale-navigation";
import NightingaleTrack from "@nightingale-elements/nightingale-track";

// The nightingale packages declare "sideEffects": false, so a bare `import "…"` would be
// dropped by the bundler and the custom elements never registered. Using the classes here
// keeps them in the bundle (and defines any element whose module did not register itself).
const ELEMENTS = {
  "nightingale-manager": NightingaleManager,
  "nightingale-msa": NightingaleMSA,
  "nightingale-navigation": NightingaleNavigation,
  "nightingale-track": NightingaleTrack,
};
for (const [tag, cls] of Object.entries(ELEMENTS)) {
  if (!customElements.get(tag)) customElements.define(tag, cls);
}

// PAVI's colour-scheme list (value = nightingale-msa scheme name), grouped as PAVI groups it.
const COLOR_SCHEMES = [
  ["Common options", [["Similarity", "conservation"], ["Clustal2", "clustal2"]]],
  ["Physical properties", [
    ["Aliphatic", "aliphatic"], ["Aromatic", "aromatic"], ["Charged", "charged"],
    ["Positive", "positive"], ["Negative", "negative"], ["Hydrophobicity", "hydro"],
    ["Polar", "polar"],
  ]],
  ["Structural properties", [
    ["Buried index", "buried_index"], ["Helix propensity", "helix_propensity"],
    ["Strand propensity", "strand_propensity"], ["Turn propensity", "turn_propensity"],
  ]],
  ["Other color schemes", [
    ["Cinema", "cinema"], ["Lesk", "lesk"], ["Mae", "mae"], ["Taylor", "taylor"], ["Zappo", "zappo"],
  ]],
];
const DEFAULT_SCHEME = "clustal2";
const ROW_HEIGHT = 20; // PAVI: msa height = rows * 20, so the page (not the msa) scrolls vertically
const WINDOW = 150; // PAVI shows 150 residues around the centre of longer alignments
const VARIANT_ROW_HEIGHT = 15;

const status = (window.__pavi = { state: "loading", sequences: 0, length: 0, drawCount: 0, slowFrameMs: 0 });

function setState(state, extra = {}) {
  Object.assign(status, extra, { state });
  document.body.dataset.paviState = state;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function showMessage(text, id = "message") {
  const main = document.getElementById("app");
  main.replaceChildren(el("p", { id }, text)); // textContent only: server text is never parsed as HTML
}

async function fetchOk(url, kind) {
  const response = await fetch(url, { headers: { accept: kind === "json" ? "application/json" : "text/plain" } });
  if (!response.ok) throw new Error(`GET ${url} answered HTTP ${response.status}`);
  return kind === "json" ? response.json() : response.text();
}

// Faults are optional: a server without the route (or with a broken one) means "no fault".
async function fetchSlowFrameMs() {
  try {
    const response = await fetch("/_pavi/faults", { cache: "no-store" });
    if (!response.ok) return 0;
    const ms = Number((await response.json()).slow_frame_ms);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  } catch {
    return 0;
  }
}

// Variant markers, as PAVI derives them from seq-info: one msa feature per embedded variant
// (boxed on its own row), one track feature per variant, track height = deepest stack * 15 px.
function variantFeatures(rows, seqInfo) {
  const msaFeatures = [];
  const trackFeatures = [];
  const depth = new Map();
  rows.forEach(({ name }, row) => {
    for (const v of seqInfo[name]?.embedded_variants ?? []) {
      for (let pos = v.alignment_start_pos; pos <= v.alignment_end_pos; pos++) {
        depth.set(pos, (depth.get(pos) ?? 0) + 1);
      }
      msaFeatures.push({
        residues: { from: v.alignment_start_pos, to: v.alignment_end_pos },
        sequences: { from: row, to: row },
        id: `feature_${name}_${v.variant_id}`,
        borderColor: "black",
        fillColor: "black",
        mouseOverBorderColor: "black",
        mouseOverFillColor: "transparent",
      });
      const shape = { deletion: "triangle", insertion: "chevron" }[v.seq_substitution_type] ?? "diamond";
      trackFeatures.push({
        accession: v.variant_id,
        start: v.alignment_start_pos,
        end: v.alignment_end_pos,
        color: "gray",
        shape,
      });
    }
  });
  const height = Math.max(0, ...depth.values()) * VARIANT_ROW_HEIGHT || VARIANT_ROW_HEIGHT;
  return { msaFeatures, trackFeatures, height };
}

function failureList(seqInfo) {
  const failed = Object.entries(seqInfo).filter(([, info]) => info && info.error);
  if (failed.length === 0) return null;
  const list = el("ul", { id: "seq-failures" });
  for (const [name, info] of failed) list.append(el("li", {}, `${name}: ${info.error}`));
  return el("div", {}, el("p", {}, "Sequences that failed to process:"), list);
}

function colorSchemeSelect(initial) {
  const select = el("select", { id: "dd-colorscheme" });
  for (const [label, options] of COLOR_SCHEMES) {
    const group = el("optgroup", { label });
    for (const [text, value] of options) group.append(el("option", { value }, text));
    select.append(group);
  }
  select.value = initial;
  return el("div", { class: "controls" }, el("label", { for: "dd-colorscheme" }, "Color scheme: "), select);
}

// ?console-errors=N: the console errors nightingale makes PAVI's real page log (a <rect> given the height
// "-Infinity"), raised by Chromium itself, N times at the first draw of the data; the page still renders.
const MAX_CONSOLE_ERRORS = 10000;
function logRectErrors(count) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  for (let i = 0; i < count; i++) {
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("height", "-Infinity"); // Chromium: Error: <rect> attribute height: Expected length, "-Infinity".
    svg.append(rect);
  }
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));

// Resolves once nightingale-msa is laid out: it learns its width from a ResizeObserver callback
// run in an animation frame, and its inner viewer applies the matching zoom (residue width)
// one frame later. Data drawn before that is drawn at a wrong or negative width, and the
// variant boxes then throw "drawImage ... canvas element with a width or height of 0".
async function whenLaidOut(msa, maxFrames = 600) {
  for (let i = 0; i < maxFrames; i++) {
    const viewer = msa.querySelector("msa-sequence-viewer");
    const residueWidth = viewer ? viewer.getSingleBaseWidth() : 0;
    if (msa.width > msa["min-width"] && residueWidth > 0 && viewer.tileWidth === residueWidth) return;
    await nextFrame();
  }
}

async function render(uuid) {
  const base = `/api/pipeline-job/${encodeURIComponent(uuid)}/result`;
  const [alignmentText, seqInfo, slowFrameMs] = await Promise.all([
    fetchOk(`${base}/alignment`, "text"),
    fetchOk(`${base}/seq-info`, "json"),
    fetchSlowFrameMs(),
  ]);
  status.slowFrameMs = slowFrameMs;

  if (seqInfo === null || typeof seqInfo !== "object" || Array.isArray(seqInfo)) {
    throw new Error("seq-info is not a JSON object");
  }
  let rows;
  try {
    rows = parse(alignmentText).alns.map(({ id, seq }) => ({ name: id, sequence: seq }));
  } catch (err) {
    throw new Error(`the Clustal alignment could not be parsed (${err.message})`);
  }
  if (rows.length === 0) throw new Error("the alignment holds no sequences");
  const length = Math.max(...rows.map((r) => r.sequence.length));
  const labelWidth = Math.max(...rows.map((r) => r.name.length)) * 9;
  const centre = Math.round(length / 2);
  const [start, end] = length <= WINDOW ? [1, length] : [centre - WINDOW / 2, centre + WINDOW / 2];
  const { msaFeatures, trackFeatures, height: trackHeight } = variantFeatures(rows, seqInfo);

  const params = new URLSearchParams(location.search);
  const requested = params.get("scheme");
  // ?visible-rows=N draws the msa N rows high and lets it scroll its own rows (only visible rows are
  // painted), the virtualised layout the migration plan aims for; default: every row, as PAVI today.
  const visibleRows = Number.parseInt(params.get("visible-rows") || "", 10);
  const msaRows = visibleRows > 0 ? Math.min(visibleRows, rows.length) : rows.length;
  const consoleErrors = Math.min(Number.parseInt(params.get("console-errors") || "", 10) || 0, MAX_CONSOLE_ERRORS);
  const scheme = COLOR_SCHEMES.some(([, opts]) => opts.some(([, v]) => v === requested)) ? requested : DEFAULT_SCHEME;

  const padded = (child) => el("div", { style: `padding-left:${labelWidth}px` }, child);
  const trackAttrs = { length, height: trackHeight, layout: "non-overlapping", "margin-left": 0, "margin-right": 5 };
  const overview = el("nightingale-track", {
    id: "variant-overview-track", ...trackAttrs, "display-start": 1, "display-end": length,
  });
  const navigation = el("nightingale-navigation", {
    "ruler-padding": 0, "margin-left": 0, "margin-right": 5, height: 40,
    length, "display-start": start, "display-end": end,
  });
  const zoomTrack = el("nightingale-track", {
    id: "variant-zoom-track", ...trackAttrs, "display-start": start, "display-end": end,
  });
  const msa = el("nightingale-msa", {
    "label-width": labelWidth, height: msaRows * ROW_HEIGHT, "margin-left": 0, "margin-right": 5,
    "display-start": start, "display-end": end, length, "color-scheme": scheme,
  });
  const manager = el("nightingale-manager", { "reflected-attributes": "display-start,display-end" },
    padded(navigation), padded(zoomTrack), msa);
  const controls = colorSchemeSelect(scheme);
  controls.querySelector("select").addEventListener("change", (e) => {
    msa.setAttribute("color-scheme", e.target.value);
  });

  // Count every redraw; "rendered" waits for the first draw that shows the data. The
  // conservation ("Similarity") scheme is only right once the msa's worker has answered,
  // which triggers one more draw, so that scheme waits for it.
  const needsConservation = scheme === "conservation" || msa.hasAttribute("overlay-conservation");
  let dataSet = false;
  let conservationReady = false;
  msa.addEventListener("conservationProgress", (e) => {
    if (e.detail && e.detail.progress === 1) conservationReady = true;
  });
  const busyWait = (ms) => {
    const until = performance.now() + ms;
    while (performance.now() < until) { /* busy-wait on purpose */ }
  };
  let errorsLogged = false;
  msa.addEventListener("drawCompleted", () => {
    status.drawCount += 1;
    if (consoleErrors > 0 && dataSet && !errorsLogged) {
      errorsLogged = true;
      logRectErrors(consoleErrors);
    }
    if (slowFrameMs > 0) busyWait(slowFrameMs); // fault injection: every redraw really costs main-thread time
    if (status.state === "loading" && dataSet && (!needsConservation || conservationReady)) {
      setState("rendered");
    }
  });
  if (slowFrameMs > 0) {
    // The same fault for scrolling, which redraws nothing while the msa is drawn at full height: a scroll
    // handler that costs main-thread time on every scroll event, i.e. on every frame the page scrolls.
    window.addEventListener("scroll", () => busyWait(slowFrameMs), { passive: true });
  }

  const app = document.getElementById("app");
  const failures = failureList(seqInfo);
  app.replaceChildren(controls, el("div", { id: "alignment-view-container" }, padded(overview), manager));
  if (failures) app.append(failures);
  status.sequences = rows.length;
  status.length = length;

  // nightingale-msa's data/features setters need its inner viewer, created in its first
  // update (set earlier, the data is silently lost); and the first draw must wait for layout.
  await Promise.all([msa.updateComplete, overview.updateComplete, zoomTrack.updateComplete]);
  await whenLaidOut(msa);
  overview.data = trackFeatures;
  zoomTrack.data = trackFeatures;
  dataSet = true;
  msa.data = rows;
  msa.features = msaFeatures;
}

async function main() {
  setState("loading");
  // ?favicon=missing: point the icon at a file the server does not have, as a deployed page whose
  // favicon cannot be fetched (Chromium logs "Failed to load resource" for it)
  if (new URLSearchParams(location.search).get("favicon") === "missing") {
    document.querySelector("link[rel=icon]")?.setAttribute("href", "/favicon.ico");
  }
  const uuid = new URLSearchParams(location.search).get("uuid");
  if (!uuid) {
    // PAVI redirects to /submit here; the local stand-in has no submit page.
    const error = "No job uuid in the address (PAVI would redirect to /submit).";
    showMessage(error, "error-message");
    setState("error", { error });
    return;
  }
  showMessage("Fetching alignment results...");
  try {
    await render(uuid);
  } catch (err) {
    const error = `Could not show the alignment: ${err && err.message ? err.message : err}`;
    console.error(error, err);
    showMessage(error, "error-message");
    setState("error", { error });
  }
}

main();
