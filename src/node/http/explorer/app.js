// The explorer: one page, four views chosen by the address's fragment,
// so that each can be linked to and the back button works: the node
// (#/), a block (#/block/HASH), an entry (#/entry/ID, with its receipt
// to download) and the check of a receipt (#/verify, in the browser with
// receipt.js, asking the node nothing). One search box
// finds any of them from a height or the first hex digits of a hash
// (/v1/search). It reads /v1/status, /v1/tree, /v1/blocks, /v1/pace and
// /v1/entries, and listens to /v1/events to redraw when something
// happens. No framework, no build step. Text from blocks is untrusted:
// it only ever goes into textContent.
"use strict";

const $ = (id) => document.getElementById(id);

const TREE_DEPTH = 100; // heights of /v1/tree read
const TREE_HEAD = 3; // the newest heights, always drawn
const TABLE_ROWS = 15;
const POOL_ROWS = 20;
const PACE_BLOCKS = 300;

let lastStatus = null;

// ------------------------------------------------------------- the router

// The operator's token comes in the link `jbc node` prints (ending in
// #token=...): a fragment, which no request carries. It is kept for this
// tab only and taken out of the address bar, which leaves the node's
// view for the router.
let operatorToken = null;
function takeToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    sessionStorage.setItem("jbc-operator-token", token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  operatorToken = sessionStorage.getItem("jbc-operator-token");
}

const ADDRESS = /^#\/(block|entry)\/([0-9a-fA-F]{64})$/;
let view = { name: "home" };

// Shows the view the address names: on load, on every change of the
// fragment (a link, a search, back and forward).
function route() {
  takeToken();
  const address = location.hash;
  const match = ADDRESS.exec(address);
  hideMessage();
  if (match) {
    view = { name: match[1], id: match[2].toLowerCase() };
  } else if (address === "#/verify") {
    view = { name: "verify" };
  } else {
    view = { name: "home" };
    if (address.replace(/^#\/?/, "") !== "") {
      say(`This page has no address ${address}: it knows #/block/HASH, #/entry/ID and #/verify.`, "bad");
    }
  }
  for (const name of ["home", "block", "entry", "verify"]) {
    $(`view-${name}`).hidden = view.name !== name;
  }
  document.title =
    view.name === "home" ? "jbc node" : view.name === "verify" ? "jbc: check a receipt" : `jbc ${view.name} ${short(view.id, 12)}`;
  if (view.name === "block") clearBlock();
  if (view.name === "entry") clearEntry();
  if (view.name !== "home") window.scrollTo(0, 0);
  if (lastStatus) renderStatus(lastStatus);
  refresh();
}
window.addEventListener("hashchange", route);

// Goes to an address (a new entry in the history), or shows it again.
function go(address) {
  if (location.hash === address) route();
  else location.hash = address;
}

function link(kind, id, text) {
  const a = document.createElement("a");
  a.href = `#/${kind}/${id}`;
  a.textContent = text;
  return a;
}

// A hash in running text: its first digits, the whole of it on hover.
function hashLink(kind, id, n = 12) {
  const a = link(kind, id, `${short(id, n)}…`);
  a.className = "hash";
  a.title = id;
  return a;
}

// ------------------------------------------------------------- the search

function say(text, tone) {
  const box = $("search-message");
  box.replaceChildren(text);
  box.className = `notice ${tone || ""}`;
  box.hidden = false;
}

function hideMessage() {
  $("search-message").hidden = true;
  $("search-message").replaceChildren();
}

async function search(text) {
  const q = text.trim();
  if (!q) {
    say("Type a height, a block hash or an entry id (its first 8 hex digits are enough).", "");
    return;
  }
  let response;
  let answer;
  try {
    response = await fetch(`/v1/search?q=${encodeURIComponent(q)}`, { cache: "no-store" });
    answer = await response.json();
  } catch (e) {
    say(`The search failed: ${e.message}`, "bad");
    return;
  }
  if (!response.ok) {
    say(answer.error || `HTTP ${response.status}`, "bad");
    return;
  }
  switch (answer.found) {
    case "block":
      go(`#/block/${answer.hash}`);
      break;
    case "entry":
      go(`#/entry/${answer.id}`);
      break;
    case "ambiguous":
      sayCandidates(q, answer.candidates, answer.more);
      break;
    default:
      say(`Nothing on this node matches "${q}".`, "");
  }
}

// An ambiguous search: each candidate, as a link to it.
function sayCandidates(q, candidates, more) {
  const list = document.createElement("ul");
  list.className = "plain candidates";
  for (const c of candidates) {
    const li = document.createElement("li");
    const a = c.kind === "block"
      ? link("block", c.hash, `block ${c.index}${c.main_chain ? "" : " (side branch)"} `)
      : link("entry", c.id, "entry ");
    const code = document.createElement("code");
    code.className = "hash";
    code.textContent = c.kind === "block" ? c.hash : c.id;
    a.append(code);
    li.append(a);
    list.append(li);
  }
  const count = more ? `more than ${candidates.length} things` : `${candidates.length} things`;
  say(`"${q}" is the start of ${count}; which one?`, "");
  $("search-message").append(list);
}

$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  search($("search-input").value);
});

// ---------------------------------------------------------------- formats

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function short(hash, n = 12) {
  return hash ? hash.slice(0, n) : "";
}

// A block's timestamp in milliseconds, or null. Timestamps are opaque
// integers: unix seconds, unix milliseconds (on networks with a target
// block time), or the original's 20-digit YYYYmmddHHMMSSffffff reading
// of a local clock.
function timestampMs(ts) {
  const t = String(ts);
  if (/^\d{20}$/.test(t)) {
    const n = (from, to) => Number(t.slice(from, to));
    return new Date(n(0, 4), n(4, 6) - 1, n(6, 8), n(8, 10), n(10, 12), n(12, 14), n(14, 17)).getTime();
  }
  const n = Number(t);
  if (!Number.isFinite(n) || n <= 0) return null;
  if (n < 1e11) return n * 1000;
  if (n < 1e14) return n;
  return null;
}

// The page's one way to write a time: local HH:MM:SS today, with the
// date before it on other days. `ago` where the age matters more.
function clock(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === new Date().toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function blockTime(ts) {
  const ms = timestampMs(ts);
  return ms === null ? String(ts) : clock(ms);
}

function secondsText(ms) {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 600000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  if (ms < 36e6) return `${(ms / 60000).toFixed(1)} min`;
  return `${(ms / 36e5).toFixed(1)} h`;
}

function countText(n) {
  if (n >= 1e12) return `${(n / 1e12).toFixed(2)} T`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return `${Math.round(n)}`;
}

function rateText(rate) {
  if (rate >= 1e9) return `${(rate / 1e9).toFixed(2)} GH/s`;
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)} MH/s`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)} kH/s`;
  return `${Math.round(rate)} H/s`;
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

// One entry as a list item: its content, author, signature state and a
// link to it.
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
    author.textContent = "signed by ";
    const key = document.createElement("span");
    key.className = "hash";
    key.title = entry.author;
    key.textContent = `${short(entry.author, 16)}…`;
    author.append(key);
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
    i.append("id ", hashLink("entry", id, 16));
    li.append(i);
  }
  return li;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// -------------------------------------------------------- the node's view

function renderStatus(s) {
  lastStatus = s;
  $("node-id").textContent = short(s.node_id, 8);
  $("genesis").textContent = `${short(s.network.genesis_hash, 16)}…`;
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
  $("pace-detail").classList.toggle("bad", Boolean(d && d.warning));
  $("next-hashes").textContent = d ? countText(d.hashes_per_block) : "-";
  $("next-expected").textContent = d && d.next_block_expected_ms !== null && d.next_block_expected_ms !== undefined
    ? `about ${secondsText(d.next_block_expected_ms)}, at the network's rate`
    : "-";
  $("software").textContent = s.software;
  $("tip-index").textContent = s.tip.index;
  $("tip-hash").textContent = s.tip.hash;
  $("tip-hash").title = s.tip.hash;
  $("tip-hash").href = `#/block/${s.tip.hash}`;
  $("tip-work").textContent = s.tip.chain_work;
  $("mining-state").textContent = s.mining.enabled ? `on, ${s.mining.threads} thread(s)` : "off";
  $("hash-rate").textContent = s.mining.enabled ? rateText(s.mining.hash_rate) : "not mining";
  const network = d ? d.network_hashes_per_second : null;
  $("network-rate").textContent = network === null || network === undefined ? "-" : `≈ ${rateText(network)}`;
  $("network-rate").title = "estimated from the difficulty and the times of the recent blocks";
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
    const url = document.createElement("span");
    url.className = "peer-url";
    url.textContent = p.url;
    url.title = p.url;
    const detail = document.createElement("span");
    detail.className = "muted";
    const bits = [p.state, p.kind];
    if (p.tip_index !== null) bits.push(`tip ${p.tip_index}`);
    if (p.ignored_reason) bits.push(p.ignored_reason);
    else if (p.last_error && p.state !== "up") bits.push(p.last_error);
    detail.textContent = bits.join(", ");
    li.append(dot, url, " ", detail);
    peers.append(li);
  }
  $("no-peers").hidden = s.peers.length > 0;
}

let drawnTable = "";

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
    const index = document.createElement("td");
    index.append(link("block", b.hash, b.index));
    const time = document.createElement("td");
    time.textContent = blockTime(b.timestamp);
    time.title = `timestamp ${b.timestamp}`;
    const hash = document.createElement("td");
    const a = link("block", b.hash, b.hash);
    a.className = "hash trunc";
    a.title = b.hash;
    hash.append(a);
    const data = document.createElement("td");
    data.className = "data";
    data.textContent = dataText(b.data);
    data.title = b.data;
    tr.append(index, time, hash, data);
    tr.addEventListener("click", () => go(`#/block/${b.hash}`));
    body.append(tr);
  }
}

// The tip's age, from the newest row of the table when it is the tip.
function renderTipAge(blocks) {
  const newest = blocks[blocks.length - 1];
  const ms = newest && lastStatus && newest.hash === lastStatus.tip.hash ? timestampMs(newest.timestamp) : null;
  $("tip-age").textContent = ms === null ? "" : `mined ${ago(ms)}, at ${clock(ms)}`;
}

// The tree, folded: the newest heights, every height with a side block
// and every fork point are drawn; a straight run of the main chain
// between them is one row, "… N blocks …", and so is everything below.
function treeRows(tree) {
  const byHeight = new Map();
  const byHash = new Map();
  for (const b of tree.blocks) {
    const h = Number(b.index);
    if (!byHeight.has(h)) byHeight.set(h, []);
    byHeight.get(h).push(b);
    byHash.set(b.hash, b);
  }
  const tip = Number(tree.tip.index);
  const lowest = Math.min(tip, ...byHeight.keys());
  const drawn = new Set();
  for (let h = tip; h > tip - TREE_HEAD && h >= lowest; h--) drawn.add(h);
  for (const b of tree.blocks) {
    if (b.main_chain) continue;
    drawn.add(Number(b.index));
    const parent = byHash.get(b.prev_hash);
    if (parent) drawn.add(Number(parent.index));
  }
  // A fold of one height takes the room of the block: draw the block.
  const heights = [...drawn].sort((a, b) => b - a);
  heights.push(lowest - 1);
  for (let i = 0; i + 1 < heights.length; i++) {
    if (heights[i] - heights[i + 1] === 2 && heights[i] - 1 >= lowest) drawn.add(heights[i] - 1);
  }
  const rows = [];
  let above = null;
  for (const h of [...drawn].sort((a, b) => b - a)) {
    if (above !== null && above - h > 1) rows.push({ fold: { from: h + 1, to: above - 1, known: true } });
    rows.push({ height: h, blocks: byHeight.get(h) || [] });
    above = h;
  }
  if (above !== null && above > 0) {
    rows.push({ fold: { from: 0, to: above - 1, known: lowest === 0 } });
  }
  return rows;
}

// Lanes: the main chain in lane 0; a side block takes its parent's lane
// when that is free at its height, else the first free lane.
function lanes(rows, byHash) {
  const lane = new Map();
  for (const row of rows.slice().reverse()) {
    if (!row.blocks) continue;
    const used = new Set();
    const ordered = row.blocks.slice().sort((a, b) => b.main_chain - a.main_chain);
    for (const b of ordered) {
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
  }
  return lane;
}

let drawnTree = "";

function renderTree(tree) {
  const key = tree.tip.hash + tree.blocks.map((b) => b.hash + b.main_chain).join(",");
  if (key === drawnTree) return;
  drawnTree = key;
  const byHash = new Map(tree.blocks.map((b) => [b.hash, b]));
  const rows = treeRows(tree);
  const lane = lanes(rows, byHash);
  const laneCount = Math.max(1, ...[...lane.values()].map((l) => l + 1));
  const W = 150, BW = 130, BH = 28, ROW = 38, FOLD = 26, PAD = 8;
  // Where each row starts, top down.
  let y = PAD;
  const top = rows.map((row) => {
    const at = y;
    y += row.fold ? FOLD : ROW;
    return at;
  });
  const width = PAD * 2 + laneCount * W - (W - BW);
  const height = y - (ROW - BH) + PAD;
  const root = $("tree");
  root.replaceChildren();
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  root.style.maxWidth = `${width}px`;
  const pos = new Map();
  rows.forEach((row, i) => {
    if (!row.blocks) return;
    for (const b of row.blocks) pos.set(b.hash, { x: PAD + lane.get(b.hash) * W, y: top[i] });
  });
  // The main chain: one line down lane 0, under the blocks and folds.
  const mid = PAD + BW / 2;
  root.append(svg("line", { x1: mid, y1: top[0] + BH / 2, x2: mid, y2: top[rows.length - 1] + (rows[rows.length - 1].fold ? FOLD / 2 : BH / 2), class: "chain" }));
  // Side blocks: a line to their parent.
  for (const b of tree.blocks) {
    const from = pos.get(b.hash);
    const to = pos.get(b.prev_hash);
    if (!b.main_chain && from && to) {
      root.append(svg("line", { x1: from.x + BW / 2, y1: from.y + BH, x2: to.x + BW / 2, y2: to.y }));
    }
  }
  rows.forEach((row, i) => {
    if (row.fold) {
      const n = row.fold.to - row.fold.from + 1;
      const g = svg("g", { class: "fold" });
      g.dataset.count = n;
      g.dataset.from = row.fold.from;
      g.dataset.to = row.fold.to;
      g.append(svg("rect", { x: PAD, y: top[i] + 3, width: BW, height: FOLD - 6, rx: (FOLD - 6) / 2 }));
      const label = svg("text", { x: mid, y: top[i] + FOLD / 2 + 4, "text-anchor": "middle" });
      label.textContent = `… ${n} block${n === 1 ? "" : "s"} …`;
      g.append(label);
      const title = svg("title", {});
      title.textContent = row.fold.known
        ? `heights ${row.fold.from} to ${row.fold.to}: a straight run of the main chain`
        : `heights ${row.fold.from} to ${row.fold.to}: the main chain, and whatever lost a race there more than ${TREE_DEPTH} blocks ago`;
      g.append(title);
      root.append(g);
      return;
    }
    for (const b of row.blocks) {
      const { x, y: by } = pos.get(b.hash);
      const g = svg("g", { class: `block ${b.main_chain ? "main" : "side"}${b.hash === tree.tip.hash ? " tip" : ""}` });
      g.dataset.hash = b.hash;
      g.append(svg("rect", { x, y: by, width: BW, height: BH, rx: 5 }));
      const label = svg("text", { x: x + 8, y: by + 18 });
      label.textContent = `${b.index} ${short(b.hash, 10)}`;
      g.append(label);
      const title = svg("title", {});
      title.textContent = `block ${b.index} ${b.hash}\n${dataText(b.data)}\n${b.main_chain ? "main chain" : "side branch"}`;
      g.append(title);
      g.addEventListener("click", () => go(`#/block/${b.hash}`));
      root.append(g);
    }
  });
}

// The pace chart: block intervals as dots (log scale, so a 10x swing
// reads as clearly as a 2x one), the target interval dashed, and each
// block's difficulty as a line on its own scale. Every axis says its
// unit.
let drawnPace = "";

function renderPace(pace) {
  const key = JSON.stringify(pace.points.map((p) => [p.index, p.time_ms]));
  if (key === drawnPace) return;
  drawnPace = key;
  const chart = $("pace-chart");
  chart.replaceChildren();
  $("pace-count").textContent = pace.points.length;
  const W = 720, H = 220, left = 62, right = 104, top = 24, bottom = 24;
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
  const axis = (text, yy, anchor, xx, cls = "axis") => {
    const t = svg("text", { x: xx, y: yy, "text-anchor": anchor, class: cls });
    t.textContent = text;
    chart.append(t);
  };
  axis("time between blocks", 12, "start", 4, "axis title");
  axis("hashes per block", 12, "end", W - 4, "axis title right");
  // A tick at each power of ten in range.
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    axis(secondsText(10 ** e), y(10 ** e) + 4, "end", left - 6);
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
  axis(`${countText(wHi)} hashes`, top + 4, "start", W - right + 6);
  axis(`${countText(wLo)} hashes`, H - bottom, "start", W - right + 6);
  axis(`block ${first}`, H - 6, "start", left);
  axis(`block ${last}`, H - 6, "end", W - right);
}

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

async function refreshHome(status) {
  const from = Math.max(0, status.tip.index - TABLE_ROWS + 1);
  const [tree, recent] = await Promise.all([
    getJSON(`/v1/tree?depth=${TREE_DEPTH}`),
    getJSON(`/v1/blocks?from=${from}&limit=${TABLE_ROWS}`),
  ]);
  renderTree(tree);
  renderTable(recent.blocks);
  renderTipAge(recent.blocks);
  renderPace(await getJSON(`/v1/pace?blocks=${PACE_BLOCKS}`));
  await refreshPool();
}

// ------------------------------------------------------- the block's view

let drawnBlock = "";

function clearBlock() {
  drawnBlock = "";
  $("detail-title").textContent = "Block";
  $("detail-fields").hidden = true;
  $("detail-entries-box").hidden = true;
  $("detail-empty").hidden = false;
  $("detail-empty").textContent = "Loading…";
}

async function drawBlock(hash) {
  const response = await fetch(`/v1/blocks/${hash}`, { cache: "no-store" });
  const info = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  const still = () => view.name === "block" && view.id === hash;
  if (!still()) return;
  if (!response.ok) {
    drawnBlock = "";
    $("detail-fields").hidden = true;
    $("detail-entries-box").hidden = true;
    $("detail-empty").hidden = false;
    $("detail-empty").textContent = info.error || `HTTP ${response.status}`;
    return;
  }
  const b = info.block;
  const index = Number(b.index);
  const tip = lastStatus ? lastStatus.tip.index : index;
  // The next block of the main chain, when this block is on it.
  let next = null;
  if (info.main_chain && index < tip) {
    next = (await getJSON(`/v1/blocks?from=${index + 1}&limit=1`)).blocks[0] || null;
    if (!still()) return;
  }
  // The age moves on even when nothing else does.
  const ms = timestampMs(b.timestamp);
  $("detail-time").textContent = ms === null ? "-" : `${clock(ms)} (${ago(ms)})`;
  const key = JSON.stringify([info, next && next.hash, tip]);
  if (key === drawnBlock) return;
  drawnBlock = key;
  $("detail-empty").hidden = true;
  $("detail-fields").hidden = false;
  $("detail-title").textContent = `Block ${b.index}`;
  $("detail-index").textContent = b.index;
  $("detail-hash").textContent = b.hash;
  const prev = $("detail-prev");
  prev.textContent = b.prev_hash || "(none: this is the genesis block)";
  if (b.prev_hash) prev.href = `#/block/${b.prev_hash}`;
  else prev.removeAttribute("href");
  $("detail-next-label").hidden = !next;
  $("detail-next-box").hidden = !next;
  if (next) {
    $("detail-next").textContent = next.hash;
    $("detail-next").href = `#/block/${next.hash}`;
  }
  $("detail-data").textContent = dataText(b.data);
  $("detail-timestamp").textContent = b.timestamp;
  $("detail-nonce").textContent = b.nonce;
  $("detail-work").textContent = info.chain_work;
  const confirmations = tip - index + 1;
  $("detail-main").textContent = info.main_chain
    ? `yes, ${confirmations} confirmation${confirmations === 1 ? "" : "s"}`
    : "no: a side branch";
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
}

// ------------------------------------------------------ the entry's view

let drawnEntry = "";

function clearEntry() {
  drawnEntry = "";
  $("entry-id").textContent = view.id;
  $("entry-status").textContent = "Loading…";
  $("entry-content").replaceChildren();
  $("entry-receipt").hidden = true;
}

async function drawEntry(id) {
  const response = await fetch(`/v1/entries/${id}`, { cache: "no-store" });
  const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!(view.name === "entry" && view.id === id)) return;
  const key = JSON.stringify([response.status, answer]);
  if (key === drawnEntry) return;
  drawnEntry = key;
  $("entry-id").textContent = id;
  if (!response.ok) {
    $("entry-status").textContent = answer.error || `HTTP ${response.status}`;
    $("entry-content").replaceChildren();
    $("entry-receipt").hidden = true;
    return;
  }
  $("entry-content").replaceChildren(entryItem(null, answer.entry, null));
  if (answer.status === "confirmed") {
    $("entry-status").replaceChildren(
      "confirmed in ",
      link("block", answer.block.hash, `block ${answer.block.index}`),
      `, ${answer.confirmations} confirmation(s)`,
    );
    // The receipt as `jbc proof ID` saves it: its block and the blocks
    // after it up to the tip, in a file named as the CLI names it.
    const receipt = $("entry-receipt-link");
    receipt.href = `/v1/entries/${id}/proof`;
    receipt.download = `${id.slice(0, 16)}.jbcproof`;
    $("entry-receipt").hidden = false;
  } else {
    $("entry-status").textContent = "pending: waiting for a block";
    $("entry-receipt").hidden = true;
  }
}

// ------------------------------------------------------ the receipt check

// The bytes of the file chosen in the input `id`, or null.
async function chosenFile(id) {
  const file = $(id).files && $(id).files[0];
  return file ? new Uint8Array(await file.arrayBuffer()) : null;
}

function verifyField(id, ...parts) {
  $(id).replaceChildren(...parts);
}

// Checks the receipt given (a file, or pasted text) against what it
// stamps if that is given, and says what it proves or what failed.
async function checkReceipt() {
  const result = $("verify-result");
  const verdict = $("verify-verdict");
  $("verify-fields").hidden = true;
  result.hidden = false;
  result.className = "notice";
  delete result.dataset.verdict;
  verdict.textContent = "Checking…";
  let bytes = await chosenFile("verify-file");
  if (!bytes) {
    const pasted = $("verify-text").value;
    if (pasted === "") {
      verdict.textContent = "Choose a receipt file or paste one.";
      result.className = "notice bad";
      return;
    }
    // A pasted receipt: its lines end in \n, and the last one too.
    bytes = new TextEncoder().encode(pasted.replace(/\r\n/g, "\n").replace(/\n*$/, "\n"));
  }
  const wanted = {};
  const docText = $("verify-doc-text").value;
  const docFile = await chosenFile("verify-doc-file");
  if (docFile) wanted.digest = JbcReceipt.hex(await JbcReceipt.sha256(docFile));
  else if (docText !== "") wanted.text = docText;
  const anchors = readAnchors();
  if (anchors.error) {
    result.className = "notice bad";
    verdict.textContent = anchors.error;
    result.dataset.verdict = "error";
    return;
  }
  Object.assign(wanted, anchors.wanted);
  const r = await JbcReceipt.check(bytes, Date.now(), wanted);
  const refuse = (check, reason) => {
    result.className = "notice bad";
    verdict.textContent = `Not a valid receipt: ${check} failed. ${reason}`;
    result.dataset.verdict = "invalid";
  };
  if (r.verdict === "invalid") {
    refuse(r.check, r.reason);
    return;
  }
  const onNode = $("verify-ask-node").checked ? await askThisNode(r.block.hash) : null;
  if (onNode && !onNode.ok) {
    refuse("this node", onNode.why);
    return;
  }
  const entry = r.entry;
  result.className = r.verdict === "valid" ? "notice good" : "notice";
  result.dataset.verdict = r.verdict;
  verdict.textContent =
    r.verdict === "valid"
      ? "Valid: every check of the receipt passed in this browser. The entry existed before these blocks " +
        "were mined; whether they are on the chain everyone else has is not known from the file alone: " +
        "compare the block's hash with one you trust."
      : `Checked, except: ${r.unchecked.join("; ")}. Everything else passed.`;
  verifyField("verify-entry-id", entry.id);
  verifyField("verify-content", entry.kind === "text" ? entry.text : `the file with SHA-256 ${entry.sha256}`);
  verifyField(
    "verify-signature",
    entry.signature === "unsigned" ? "none (unsigned)" : entry.signature === "valid" ? `valid, by ${entry.author}` : `not checked here, by ${entry.author}`,
  );
  verifyField("verify-block", `${r.block.index} `, hashLink("block", r.block.hash, 16));
  verifyField("verify-time", `${new Date(r.block.timeMs).toISOString().replace("T", " ").replace("Z", " UTC")}`);
  verifyField(
    "verify-confirmations",
    `${r.confirmations} (its block and ${r.confirmations - 1} after it)`,
  );
  verifyField("verify-work", `about ${JbcReceipt.workText(r.work)} hashes in these blocks`);
  verifyField("verify-network", `${short(r.networkId, 16)}… (genesis ${short(r.genesisHash, 16)}…, ${r.rules.difficultyText})`);
  verifyField(
    "verify-document",
    wanted.digest
      ? "the file you chose is the one stamped"
      : wanted.text !== undefined
        ? "the text you gave is the one stamped"
        : "not compared: give the text or the file to check that the entry is it",
  );
  const anchored = [];
  if (wanted.networkId) anchored.push("of the network you named");
  if (wanted.checkpoint) anchored.push("holds the block you trust");
  if (wanted.minWork !== undefined) anchored.push(`proves at least ${wanted.minWork} hashes`);
  if (onNode) anchored.push("this node has the block on its main chain");
  verifyField("verify-anchored", anchored.length ? anchored.join("; ") : "none given");
  $("verify-fields").hidden = false;
}

// The anchors typed in: {wanted} or {error} that says what is wrong.
function readAnchors() {
  const wanted = {};
  const isHash = (s) => /^[0-9a-f]{64}$/.test(s);
  const networkId = $("verify-network-id").value.trim().toLowerCase();
  if (networkId !== "") {
    if (!isHash(networkId)) return { error: "The network's id must be 64 hexadecimal digits (jbc network show prints it)." };
    wanted.networkId = networkId;
  }
  const checkpoint = $("verify-checkpoint").value.trim().toLowerCase();
  if (checkpoint !== "") {
    if (!isHash(checkpoint)) return { error: "The block you trust must be given by its hash: 64 hexadecimal digits." };
    wanted.checkpoint = checkpoint;
  }
  const minWork = $("verify-min-work").value.trim();
  if (minWork !== "") {
    const n = Number(minWork);
    if (!Number.isFinite(n) || n < 0) return { error: `The least work must be a number of hashes, like 1e12, not ${JSON.stringify(minWork)}.` };
    wanted.minWork = n;
  }
  return { wanted };
}

// Whether the node serving this page has block `hash` on its main
// chain, as `jbc verify --node` asks: {ok} or {ok: false, why}.
async function askThisNode(hash) {
  let reply;
  try {
    reply = await fetch(`/v1/blocks/${hash}`, { cache: "no-store" });
  } catch (e) {
    return { ok: false, why: `this node could not be asked: ${e.message}` };
  }
  if (reply.status === 404) {
    return { ok: false, why: `this node does not have block ${hash}: it is not on its chain` };
  }
  if (!reply.ok) return { ok: false, why: `this node answered ${reply.status}` };
  const block = await reply.json();
  if (!block.main_chain) {
    return {
      ok: false,
      why: `block ${hash} is on a side branch at this node: its chain moved to another branch, and the entry is not confirmed by this block there`,
    };
  }
  return { ok: true };
}

$("verify-form").addEventListener("submit", (event) => {
  event.preventDefault();
  checkReceipt().catch((e) => {
    $("verify-verdict").textContent = `The check could not run: ${e.message}`;
    $("verify-result").className = "notice bad";
    $("verify-result").dataset.verdict = "error";
  });
});

// ------------------------------------------------------------- live

let lastBlockHash = "";

function logEvent(ev) {
  const parts = [];
  let cls = "";
  switch (ev.type) {
    case "block":
      lastBlockHash = ev.hash;
      parts.push(`block ${ev.index} `, hashLink("block", ev.hash), ` ${ev.source}${ev.main_chain ? ", the new tip" : ", on a side branch"}`);
      break;
    case "tip":
      if (ev.disconnected > 0) {
        parts.push(`reorg: ${ev.disconnected} block(s) above ${ev.fork_index} replaced by ${ev.connected}; tip ${ev.index} `, hashLink("block", ev.hash));
        cls = "reorg";
      } else if (ev.connected === 1 && ev.hash === lastBlockHash) {
        return; // the block line above already said so
      } else {
        parts.push(`tip moved ${ev.connected} block(s) forward to ${ev.index} `, hashLink("block", ev.hash));
      }
      break;
    case "peer":
      parts.push(`peer ${ev.url} ${ev.state}${ev.trouble ? ": " + ev.trouble : ""}`);
      break;
    case "mining":
      parts.push(`mining ${ev.mining ? "on" : "off"}`);
      break;
    case "pool":
      if (ev.added > 0) parts.push(`${ev.added} new entr${ev.added === 1 ? "y" : "ies"} pending`);
      else if (ev.returned > 0) parts.push(`${ev.returned} entr${ev.returned === 1 ? "y" : "ies"} back in the pool after a reorg`);
      else if (ev.evicted > 0) parts.push(`${ev.evicted} old entries evicted (the pool was full)`);
      else return;
      break;
    default:
      return;
  }
  const li = document.createElement("li");
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = clock(Date.now());
  li.append(when, " ", ...parts);
  li.className = cls;
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
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

// Reads what the current view shows; one round at a time (a call during
// a round asks for one more after it).
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
    if (view.name === "block") await drawBlock(view.id);
    else if (view.name === "entry") await drawEntry(view.id);
    else if (view.name === "home") await refreshHome(status);
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

route();
connect();
// The hash rate and peers change without events; look again now and then.
setInterval(refresh, 3000);
