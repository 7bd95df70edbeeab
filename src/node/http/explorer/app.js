// The explorer: reads /v1/status, /v1/tree and /v1/blocks, and listens to
// /v1/events to redraw when something happens. No framework, no build step.
// Text from blocks is untrusted: it only ever goes into textContent.
"use strict";

const $ = (id) => document.getElementById(id);

// The operator's token comes in the link `jbc node` prints
// (ending in #token=...): a fragment, which no request carries. It
// is kept for this tab only, and taken out of the address bar.
let operatorToken = null;
function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem("jbc-operator-token", fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  operatorToken = sessionStorage.getItem("jbc-operator-token");
  if (lastStatus) renderStatus(lastStatus);
}
window.addEventListener("hashchange", takeToken);
const TREE_DEPTH = 24;
const TABLE_ROWS = 15;
let lastStatus = null;
let selectedHash = null;

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function short(hash, n = 12) {
  return hash ? hash.slice(0, n) : "";
}

// Timestamps are opaque integers: unix seconds, unix milliseconds (on
// networks with a target block time), or the original's 20-digit
// YYYYmmddHHMMSSffffff clock reading.
function timeText(ts) {
  if (/^\d{20}$/.test(ts)) {
    return `${ts.slice(0, 4)}-${ts.slice(4, 6)}-${ts.slice(6, 8)} ${ts.slice(8, 10)}:${ts.slice(10, 12)}:${ts.slice(12, 14)}`;
  }
  const n = Number(ts);
  if (Number.isFinite(n) && n > 0 && n < 1e11) {
    return new Date(n * 1000).toISOString().replace("T", " ").slice(0, 19);
  }
  if (Number.isFinite(n) && n >= 1e11 && n < 1e14) {
    return new Date(n).toISOString().replace("T", " ").slice(0, 23);
  }
  return ts;
}

function secondsText(ms) {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

function countText(n) {
  if (n >= 1e12) return `${(n / 1e12).toFixed(2)} T`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return `${Math.round(n)}`;
}

// A block that carries entries shows its note and how many entries; the
// original's blocks show their data as it is.
function dataText(data) {
  const lines = data.split("\n");
  if (lines[0] !== "jbc-entries/1" || !lines[1] || !lines[1].startsWith("note ")) return data;
  let note = lines[1].slice(5);
  try {
    note = JSON.parse(note);
  } catch {
    // shown as written
  }
  const n = lines.length - 2;
  return `${note} (+${n} entr${n === 1 ? "y" : "ies"})`;
}

// One entry as a list item: its content, author and signature state.
function entryItem(id, entry, state) {
  const li = document.createElement("li");
  li.dataset.id = id || "";
  const content = document.createElement("span");
  content.className = "content";
  if (entry && typeof entry === "object") {
    content.textContent = entry.text !== undefined ? entry.text : `document sha256 ${entry.sha256}`;
  } else {
    content.textContent = String(entry);
  }
  li.append(content);
  if (entry && entry.author) {
    const author = document.createElement("div");
    author.className = "author";
    author.textContent = `signed by ${short(entry.author, 16)}`;
    li.append(author);
  }
  if (state) {
    const s = document.createElement("div");
    s.className = `state ${state.ok ? "good" : "bad"}`;
    s.textContent = state.text;
    li.append(s);
  }
  if (id) {
    const i = document.createElement("div");
    i.className = "id";
    i.textContent = `id ${short(id, 16)}`;
    li.append(i);
  }
  return li;
}

function rateText(rate) {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)} MH/s`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)} kH/s`;
  return `${Math.round(rate)} H/s`;
}

function renderStatus(s) {
  lastStatus = s;
  $("node-id").textContent = short(s.node_id, 8);
  $("genesis").textContent = short(s.network.genesis_hash, 16);
  $("genesis").title = s.network.genesis_hash;
  const d = s.difficulty;
  $("difficulty").textContent = d && d.rule.startsWith("asert")
    ? `following the clock, a block every ${secondsText(d.block_time_ms)}`
    : `${s.network.difficulty} leading zeros`;
  $("mean-block-time").textContent = d ? secondsText(d.mean_block_time_ms) : "-";
  $("pace-detail").textContent = d && d.warning
    ? d.warning
    : d && d.measured_blocks > 0
      ? `mean of the last ${d.measured_blocks} blocks` + (d.block_time_ms ? `; target ${secondsText(d.block_time_ms)}` : "")
      : "no blocks yet";
  $("next-hashes").textContent = d ? countText(d.hashes_per_block) : "-";
  $("software").textContent = s.software;
  $("tip-index").textContent = s.tip.index;
  $("tip-hash").textContent = s.tip.hash;
  $("tip-work").textContent = s.tip.chain_work;
  $("mining-state").textContent = s.mining.enabled ? `on, ${s.mining.threads} thread(s)` : "off";
  $("hash-rate").textContent = s.mining.enabled ? rateText(s.mining.hash_rate) : "";
  $("mining-toggle").textContent = s.mining.enabled ? "stop mining" : "start mining";
  $("mining-toggle").disabled = !operatorToken;
  $("mining-toggle").title = operatorToken
    ? ""
    : "for the node's operator: open the link `jbc node` printed (it carries the operator's token)";
  const peers = $("peers");
  peers.replaceChildren();
  for (const p of s.peers) {
    const li = document.createElement("li");
    const dot = document.createElement("span");
    dot.className = `dot ${p.state}`;
    li.append(dot, `${p.url} `);
    const detail = document.createElement("span");
    detail.className = "muted";
    const bits = [p.state, p.kind];
    if (p.tip_index !== null) bits.push(`tip ${p.tip_index}`);
    if (p.ignored_reason) bits.push(p.ignored_reason);
    else if (p.last_error && p.state !== "up") bits.push(p.last_error);
    detail.textContent = `(${bits.join(", ")})`;
    li.append(detail);
    peers.append(li);
  }
  $("no-peers").hidden = s.peers.length > 0;
}

let drawnTable = "";
let drawnTree = "";

function renderTable(blocks) {
  // Redraw only when the blocks changed: rows keep their place under the
  // pointer, and a click is never lost to a redraw.
  const key = blocks.map((b) => b.hash).join(",");
  if (key === drawnTable) return;
  drawnTable = key;
  const body = $("blocks").tBodies[0];
  body.replaceChildren();
  for (const b of blocks.slice().reverse()) {
    const tr = document.createElement("tr");
    tr.dataset.hash = b.hash;
    if (b.hash === selectedHash) tr.className = "selected";
    const cells = [b.index, timeText(b.timestamp), short(b.hash), dataText(b.data), b.nonce];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = "hash";
      if (i === 3) td.className = "data";
      tr.append(td);
    });
    tr.addEventListener("click", () => showBlock(b.hash));
    body.append(tr);
  }
}

// Lanes: the main chain in lane 0; a side block takes its parent's lane
// when that is free at its height, else the first free lane.
function layout(blocks) {
  const byHash = new Map(blocks.map((b) => [b.hash, b]));
  const taken = new Map(); // height -> Set of lanes
  const lane = new Map();
  const sorted = blocks.slice().sort((a, b) => Number(a.index) - Number(b.index) || (b.main_chain - a.main_chain));
  for (const b of sorted) {
    const h = Number(b.index);
    if (!taken.has(h)) taken.set(h, new Set());
    const used = taken.get(h);
    let l = 0;
    if (!b.main_chain) {
      const parent = byHash.get(b.prev_hash);
      const want = parent && !parent.main_chain ? lane.get(parent.hash) : undefined;
      if (want !== undefined && !used.has(want)) {
        l = want;
      } else {
        l = 1;
        while (used.has(l)) l++;
      }
    }
    used.add(l);
    lane.set(b.hash, l);
  }
  return lane;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function renderTree(tree) {
  const key = tree.tip.hash + tree.blocks.map((b) => b.hash + b.main_chain).join(",");
  if (key === drawnTree) return;
  drawnTree = key;
  const blocks = tree.blocks;
  const lane = layout(blocks);
  const tipIndex = tree.tip.index;
  const lowest = blocks.reduce((m, b) => Math.min(m, Number(b.index)), tipIndex);
  const lanes = Math.max(1, ...[...lane.values()].map((l) => l + 1));
  const W = 150, H = 44, BW = 130, BH = 30, PAD = 8;
  const width = PAD * 2 + lanes * W;
  const height = PAD * 2 + (tipIndex - lowest + 1) * H;
  const root = $("tree");
  root.replaceChildren();
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  root.style.maxWidth = `${width}px`;
  const pos = new Map();
  for (const b of blocks) {
    const x = PAD + lane.get(b.hash) * W;
    const y = PAD + (tipIndex - Number(b.index)) * H;
    pos.set(b.hash, { x, y });
  }
  for (const b of blocks) {
    const from = pos.get(b.hash);
    const to = pos.get(b.prev_hash);
    if (to) {
      root.append(svg("line", { x1: from.x + BW / 2, y1: from.y + BH, x2: to.x + BW / 2, y2: to.y }));
    }
  }
  for (const b of blocks) {
    const { x, y } = pos.get(b.hash);
    const g = svg("g", { class: `block ${b.main_chain ? "main" : "side"}${b.hash === tree.tip.hash ? " tip" : ""}` });
    g.dataset.hash = b.hash;
    g.append(svg("rect", { x, y, width: BW, height: BH, rx: 5 }));
    const label = svg("text", { x: x + 8, y: y + 19 });
    label.textContent = `${b.index} ${short(b.hash, 10)}`;
    g.append(label);
    const title = svg("title", {});
    title.textContent = `block ${b.index} ${b.hash}\n${b.data}\n${b.main_chain ? "main chain" : "side branch"}`;
    g.append(title);
    g.addEventListener("click", () => showBlock(b.hash));
    root.append(g);
  }
}

async function showBlock(hash) {
  selectedHash = hash;
  for (const tr of $("blocks").tBodies[0].rows) {
    tr.classList.toggle("selected", tr.dataset.hash === hash);
  }
  try {
    const info = await getJSON(`/v1/blocks/${hash}`);
    const b = info.block;
    $("detail-empty").hidden = true;
    $("detail-fields").hidden = false;
    $("detail-index").textContent = b.index;
    $("detail-hash").textContent = b.hash;
    $("detail-prev").textContent = b.prev_hash || "(none: this is the genesis block)";
    $("detail-prev").dataset.hash = b.prev_hash;
    $("detail-data").textContent = b.data;
    $("detail-timestamp").textContent = `${b.timestamp} (${timeText(b.timestamp)})`;
    $("detail-nonce").textContent = b.nonce;
    $("detail-work").textContent = info.chain_work;
    $("detail-main").textContent = info.main_chain ? "yes" : "no (a side branch)";
    $("detail-data").textContent = dataText(b.data);
    const entries = info.entries || [];
    $("detail-entries-box").hidden = entries.length === 0;
    $("detail-entries").replaceChildren(
      ...entries.map((e) =>
        entryItem(e.id, e.entry, {
          ok: e.valid,
          text: e.valid ? (e.signed ? "signature valid" : "unsigned") : `invalid: ${e.error}`,
        }),
      ),
    );
  } catch (e) {
    $("detail-empty").hidden = false;
    $("detail-empty").textContent = `Could not load block ${short(hash)}: ${e.message}`;
  }
}

let lastBlockHash = "";

function logEvent(ev) {
  let text;
  let cls = "";
  switch (ev.type) {
    case "block":
      lastBlockHash = ev.hash;
      text = `block ${ev.index} ${short(ev.hash)} ${ev.source}${ev.main_chain ? ", the new tip" : ", on a side branch"}`;
      break;
    case "tip":
      if (ev.disconnected > 0) {
        text = `reorg: ${ev.disconnected} block(s) above ${ev.fork_index} replaced by ${ev.connected}; tip ${ev.index}`;
        cls = "reorg";
      } else if (ev.connected === 1 && ev.hash === lastBlockHash) {
        return; // the block line above already said so
      } else {
        text = `tip moved ${ev.connected} block(s) forward to ${ev.index} ${short(ev.hash)}`;
      }
      break;
    case "peer":
      text = `peer ${ev.url} ${ev.state}${ev.trouble ? ": " + ev.trouble : ""}`;
      break;
    case "mining":
      text = `mining ${ev.mining ? "on" : "off"}`;
      break;
    case "pool":
      if (ev.added > 0) text = `${ev.added} new entr${ev.added === 1 ? "y" : "ies"} pending`;
      else if (ev.returned > 0) text = `${ev.returned} entr${ev.returned === 1 ? "y" : "ies"} back in the pool after a reorg`;
      else if (ev.evicted > 0) text = `${ev.evicted} old entries evicted (the pool was full)`;
      else return;
      break;
    default:
      return;
  }
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  li.className = cls;
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
}

// The pace chart: block intervals as dots (log scale, so a 10x swing
// reads as clearly as a 2x one), the target interval dashed, and each
// block's difficulty as a line on its own scale.
const PACE_BLOCKS = 300;
let drawnPace = "";

function renderPace(pace) {
  const key = JSON.stringify(pace.points.map((p) => [p.index, p.time_ms]));
  if (key === drawnPace) return;
  drawnPace = key;
  const chart = $("pace-chart");
  chart.replaceChildren();
  $("pace-count").textContent = pace.points.length;
  const W = 720, H = 200, left = 56, right = 72, top = 10, bottom = 24;
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const points = pace.points;
  if (points.length === 0) return;
  const first = points[0].index, last = points[points.length - 1].index;
  const x = (i) => left + (last === first ? 0 : (i - first) / (last - first)) * (W - left - right);
  const intervals = points.filter((p) => p.interval_ms !== null).map((p) => Math.max(p.interval_ms, 1));
  const wanted = pace.difficulty && pace.difficulty.block_time_ms;
  const all = wanted ? intervals.concat([wanted]) : intervals;
  const lo = Math.log10(Math.max(1, Math.min(...all, 1e12) / 2));
  const hi = Math.log10(Math.max(...all, 2) * 2);
  const y = (ms) => top + (1 - (Math.log10(Math.max(ms, 1)) - lo) / (hi - lo || 1)) * (H - top - bottom);
  const axis = (text, yy, anchor, xx) => {
    const t = svg("text", { x: xx, y: yy, "text-anchor": anchor, class: "axis" });
    t.textContent = text;
    chart.append(t);
  };
  for (const ms of [10 ** Math.ceil(lo), 10 ** Math.floor(hi)]) {
    if (ms >= 10 ** lo && ms <= 10 ** hi) axis(secondsText(ms), y(ms) + 4, "end", left - 6);
  }
  if (wanted) {
    chart.append(svg("line", { x1: left, x2: W - right, y1: y(wanted), y2: y(wanted), class: "wanted" }));
  }
  for (const p of points) {
    if (p.interval_ms === null) continue;
    chart.append(svg("circle", { cx: x(p.index), cy: y(Math.max(p.interval_ms, 1)), r: 2.5, class: "interval" }));
  }
  const work = points.map((p) => p.hashes_per_block);
  const wLo = Math.min(...work) * 0.9, wHi = Math.max(...work) * 1.1;
  const wy = (w) => top + (1 - (w - wLo) / (wHi - wLo || 1)) * (H - top - bottom);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.index).toFixed(1)},${wy(p.hashes_per_block).toFixed(1)}`).join(" ");
  chart.append(svg("path", { d: path, class: "work" }));
  axis(`${countText(wHi)}`, top + 10, "start", W - right + 6);
  axis(`${countText(wLo)}`, H - bottom, "start", W - right + 6);
  axis(`block ${first}`, H - 6, "start", left);
  axis(`block ${last}`, H - 6, "end", W - right);
}

let streamOpen = false;
let fetchError = "";

function renderLive() {
  const badge = $("live");
  if (fetchError) {
    badge.textContent = `error: ${fetchError}`;
    badge.className = "badge";
  } else {
    badge.textContent = streamOpen ? "live" : "reconnecting";
    badge.className = streamOpen ? "badge on" : "badge";
  }
}

let refreshing = false;
let again = false;
async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  try {
    const status = await getJSON("/v1/status");
    renderStatus(status);
    const from = Math.max(0, status.tip.index - TABLE_ROWS + 1);
    const [tree, recent] = await Promise.all([
      getJSON(`/v1/tree?depth=${TREE_DEPTH}`),
      getJSON(`/v1/blocks?from=${from}&limit=${TABLE_ROWS}`),
    ]);
    renderTree(tree);
    renderTable(recent.blocks);
    renderPace(await getJSON(`/v1/pace?blocks=${PACE_BLOCKS}`));
    await refreshPool();
    // The entry being looked at may have moved (pending -> confirmed).
    if (foundId) await findEntry(foundId);
    fetchError = "";
  } catch (e) {
    fetchError = e.message;
  } finally {
    renderLive();
    refreshing = false;
    if (again) {
      again = false;
      setTimeout(refresh, 100);
    }
  }
}

function connect() {
  const events = new EventSource("/v1/events");
  events.onopen = () => {
    streamOpen = true;
    renderLive();
  };
  events.onerror = () => {
    // EventSource reconnects by itself.
    streamOpen = false;
    renderLive();
  };
  events.onmessage = (message) => {
    let ev;
    try {
      ev = JSON.parse(message.data);
    } catch {
      return;
    }
    logEvent(ev);
    refresh();
  };
}

$("mining-toggle").addEventListener("click", async () => {
  const on = !(lastStatus && lastStatus.mining.enabled);
  $("mining-toggle").disabled = true;
  try {
    await fetch("/v1/mining", {
      method: "POST",
      headers: { Authorization: `Bearer ${operatorToken}` },
      body: JSON.stringify({ mine: on }),
    });
  } finally {
    $("mining-toggle").disabled = !operatorToken;
    refresh();
  }
});

const POOL_ROWS = 20;
let drawnPool = "";

async function refreshPool() {
  const pending = await getJSON(`/v1/entries?pending&limit=${POOL_ROWS}`);
  $("pool-count").textContent = pending.pool.entries;
  $("pool-bytes").textContent = pending.pool.bytes;
  const key = pending.entries.map((e) => e.id).join(",");
  if (key === drawnPool) return;
  drawnPool = key;
  $("pool").replaceChildren(...pending.entries.map((e) => entryItem(e.id, e.entry, null)));
  $("pool-empty").hidden = pending.entries.length > 0;
}

let foundId = null;

async function findEntry(id) {
  foundId = id;
  $("found").hidden = false;
  $("found-id").textContent = id;
  $("found-entry").textContent = "";
  const response = await fetch(`/v1/entries/${encodeURIComponent(id)}`, { cache: "no-store" });
  const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) {
    $("found-status").textContent = answer.error || `HTTP ${response.status}`;
    return;
  }
  $("found-entry").replaceChildren(entryItem(null, answer.entry, null));
  if (answer.status === "confirmed") {
    const link = document.createElement("a");
    link.href = "#";
    link.textContent = `block ${answer.block.index}`;
    link.addEventListener("click", (e) => {
      e.preventDefault();
      showBlock(answer.block.hash);
    });
    $("found-status").replaceChildren("confirmed in ", link, `, ${answer.confirmations} confirmation(s)`);
  } else {
    $("found-status").textContent = "pending: waiting for a block";
  }
}

$("find-entry").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("find-id").value.trim();
  if (id) findEntry(id);
});

$("detail-prev").addEventListener("click", (e) => {
  e.preventDefault();
  const hash = e.target.dataset.hash;
  if (hash) showBlock(hash);
});

takeToken();
connect();
refresh();
// The hash rate and peers change without events; look again now and then.
setInterval(refresh, 3000);
