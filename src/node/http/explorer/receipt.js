// The check of a receipt (jbc-receipt/1) in the browser, written from
// docs/RECEIPTS.md alone: nothing here asks the node anything. SHA-256 is
// Web Crypto's where the page has it (a secure context: localhost or
// https) and a small one below otherwise; ed25519 signatures are Web
// Crypto's, and where the browser cannot check them the result says so
// (a signature is never called valid unchecked). Whole numbers are
// BigInts. `JbcReceipt.check(bytes, now_ms)` answers
// {verdict: "valid" | "invalid" | "unchecked", ...}; the page (app.js)
// shows it.
"use strict";

const JbcReceipt = (() => {
  const FORMAT = "jbc-receipt/1";
  // Receipts jbc makes stay well below this (100,000 blocks after the
  // entry's); a bigger file is refused before it is read.
  const MAX_BYTES = 16 * 1024 * 1024;
  const FIXED_MAX_FUTURE_MS = 2n * 60n * 60n * 1000n;
  const TWO_256 = 1n << 256n;
  const HEX64 = /^[0-9a-f]{64}$/;
  const NUMBER = /^(0|[1-9][0-9]*)$/;

  // A failed check: which one (in words a person reads: "the checksum",
  // "the chain of blocks"...) and why.
  class Invalid extends Error {
    constructor(check, reason) {
      super(reason);
      this.check = check;
    }
  }
  const fail = (check, reason) => {
    throw new Invalid(check, reason);
  };

  // ------------------------------------------------------------ bytes

  const ascii = (text) => {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  };
  const utf8 = (text) => new TextEncoder().encode(text);
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => {
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return out;
  };
  const big = (hexText) => BigInt(`0x${hexText}`);
  const short = (h) => `${h.slice(0, 12)}…`;

  // ------------------------------------------------------------ SHA-256

  // Web Crypto's, read at each call (only secure contexts have it).
  const subtle = () => (globalThis.crypto && globalThis.crypto.subtle) || null;

  // SHA-256 (FIPS 180-4) in plain JavaScript, for pages opened over plain
  // HTTP on a LAN, which have no crypto.subtle.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  function sha256Plain(bytes) {
    const h = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    const length = bytes.length;
    const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
    padded.set(bytes);
    padded[length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, (length << 3) >>> 0);
    const w = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let at = 0; at < padded.length; at += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(at + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g;
        g = f;
        f = e;
        e = (d + t1) >>> 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) >>> 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    h.forEach((v, i) => outView.setUint32(4 * i, v));
    return out;
  }

  // SHA-256 of bytes, as bytes.
  async function sha256(bytes) {
    const s = subtle();
    if (s) return new Uint8Array(await s.digest("SHA-256", bytes));
    return sha256Plain(bytes);
  }
  const sha256Hex = async (bytes) => hex(await sha256(bytes));

  // ------------------------------------------------------------ ed25519

  // RFC 8032, section 7.1, test 1: a signature of the empty message, to
  // learn once whether this browser checks ed25519 at all.
  const PROBE_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const PROBE_SIG =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
  let ed25519Support = null;

  // Whether the browser can check ed25519 signatures; the reason if not.
  async function ed25519Supported() {
    if (ed25519Support) return ed25519Support;
    const s = subtle();
    if (!s) {
      return { ok: false, why: "this page has no Web Crypto (crypto.subtle): it is not a secure context" };
    }
    try {
      const key = await s.importKey("raw", unhex(PROBE_KEY), { name: "Ed25519" }, false, ["verify"]);
      const good = await s.verify({ name: "Ed25519" }, key, unhex(PROBE_SIG), new Uint8Array(0));
      ed25519Support = good
        ? { ok: true }
        : { ok: false, why: "this browser's Web Crypto fails the RFC 8032 test signature" };
    } catch (e) {
      ed25519Support = { ok: false, why: `this browser's Web Crypto has no Ed25519 (${e.name || e.message})` };
    }
    return ed25519Support;
  }

  // true, false, or null when it cannot be checked here.
  async function ed25519Verify(key, signature, message) {
    const support = await ed25519Supported();
    if (!support.ok) return null;
    const s = subtle();
    try {
      const imported = await s.importKey("raw", unhex(key), { name: "Ed25519" }, false, ["verify"]);
      return await s.verify({ name: "Ed25519" }, imported, unhex(signature), message);
    } catch {
      // A key that is no point of the curve.
      return false;
    }
  }

  // ------------------------------------------------------------ text

  // A JSON string as Python's json.dumps(s, ensure_ascii=True) writes it.
  function pythonJsonString(s) {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += "\\\\";
      else if (c === 0x0a) out += "\\n";
      else if (c === 0x0d) out += "\\r";
      else if (c === 0x09) out += "\\t";
      else if (c === 0x08) out += "\\b";
      else if (c === 0x0c) out += "\\f";
      else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, "0")}`;
      else out += s[i];
    }
    return `${out}"`;
  }

  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

  // The text a JSON string token spells, when it spells it the one way
  // the format allows; null otherwise.
  function canonicalString(token) {
    let value;
    try {
      value = JSON.parse(token);
    } catch {
      return null;
    }
    if (typeof value !== "string" || LONE_SURROGATE.test(value)) return null;
    return pythonJsonString(value) === token ? value : null;
  }

  // ------------------------------------------------------------ numbers

  function number(text, what, check = "the lines") {
    if (!NUMBER.test(text)) {
      fail(check, `${what} is "${text}", not a whole number in decimal digits (no sign, no leading zero)`);
    }
    return BigInt(text);
  }

  // A whole number that jbc keeps in 64 bits (heights, nonces, stamps,
  // the rules' numbers): larger is no number `jbc verify` reads.
  const U64_MAX = (1n << 64n) - 1n;
  function u64(text, what, check = "the lines") {
    const n = number(text, what, check);
    if (n > U64_MAX) fail(check, `${what} is ${text}, more than 2^64-1`);
    return n;
  }

  function hash64(text, what, check = "the lines") {
    if (!HEX64.test(text)) fail(check, `${what} is "${text}", not 64 lowercase hex digits`);
    return text;
  }

  // Rounds toward minus infinity, as the rules' `//` does.
  function floorDiv(a, b) {
    const q = a / b;
    return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
  }

  // The middle value when sorted, the upper middle one for an even count.
  function median(list) {
    const sorted = list.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return sorted[Math.floor(sorted.length / 2)];
  }

  // ------------------------------------------------------------ the network

  const RETARGET_VERSIONS = ["asert-per-block/1", "asert-median/2"];

  // 16^(64-n) - 1 for n = 0..64: the targets `leading_zeros n` names.
  const ZEROS_TARGETS = new Map();
  for (let n = 0; n <= 64; n++) ZEROS_TARGETS.set((1n << BigInt(4 * (64 - n))) - 1n, n);

  // The network's rules from its id text (the `rules` lines), read only
  // as the format writes them.
  function readRules(lines) {
    const bad = (reason) => fail("the network", reason);
    let at = 0;
    const next = (what) => {
      if (at >= lines.length) bad(`its rules end before ${what}`);
      return lines[at++];
    };
    // A line "KEY VALUE"; VALUE.
    const field = (key) => {
      const line = next(`the line "${key} ..."`);
      if (!line.startsWith(`${key} `)) bad(`rules line ${at} reads "${line}" where "${key} ..." belongs`);
      return line.slice(key.length + 1);
    };
    const num = (key) => u64(field(key), `the rule ${key}`, "the network");
    const hexField = (key) => hash64(field(key), `the rule ${key}`, "the network");
    const first = next("its first line");
    if (first !== "jbc-network/1") bad(`its rules start with "${first}", not "jbc-network/1"`);
    const rules = { genesis: hexField("genesis") };
    const difficulty = next("its difficulty");
    if (difficulty.startsWith("leading_zeros ")) {
      const n = number(difficulty.slice(14), "the rule leading_zeros", "the network");
      if (n > 64n) bad(`leading_zeros ${n}: a hash has 64 hex digits`);
      rules.kind = "fixed";
      rules.target = (1n << (4n * (64n - n))) - 1n;
      rules.difficultyText = `${n} leading hex zeros`;
    } else if (difficulty.startsWith("target ")) {
      const target = big(hash64(difficulty.slice(7), "the rule target", "the network"));
      if (ZEROS_TARGETS.has(target)) {
        bad(`the target ${difficulty.slice(7)} is written "leading_zeros ${ZEROS_TARGETS.get(target)}" in a network's rules`);
      }
      rules.kind = "fixed";
      rules.target = target;
      rules.difficultyText = `the fixed target ${short(difficulty.slice(7))}`;
    } else if (difficulty.startsWith("retarget ")) {
      const version = difficulty.slice(9);
      if (!RETARGET_VERSIONS.includes(version)) bad(`the retarget rule "${version}" is not one this page knows`);
      rules.kind = "retarget";
      rules.version = version;
      rules.blockTime = num("block_time_ms");
      if (rules.blockTime === 0n) bad("block_time_ms is 0: the rules do not make a network");
      rules.halflife = num("halflife_ms");
      if (rules.halflife === 0n) bad("halflife_ms is 0: the target rule divides by it");
      rules.initialTarget = big(hexField("initial_target"));
      if (rules.initialTarget === 0n) bad("initial_target is 0: no hash could meet it");
      rules.maxTarget = big(hexField("max_target"));
      if (rules.initialTarget > rules.maxTarget) bad("initial_target is above max_target: the rules do not make a network");
      rules.maxFuture = num("max_future_ms");
      rules.difficultyText = `a block every ${rules.blockTime} ms (${version})`;
    } else {
      bad(`rules line ${at} reads "${difficulty}" where the difficulty belongs (leading_zeros, target or retarget)`);
    }
    const strict = field("strict");
    if (strict !== "true" && strict !== "false") bad(`strict is "${strict}", not true or false`);
    rules.strict = strict === "true";
    rules.maxEntryBytes = num("max_entry_bytes");
    rules.maxBlockDataBytes = num("max_block_data_bytes");
    rules.stampBits = num("stamp_bits");
    rules.merkle = false;
    if (at < lines.length && lines[at] === "commit merkle/1") {
      rules.merkle = true;
      at++;
    }
    if (at < lines.length) bad(`rules line ${at + 1} reads "${lines[at]}": nothing belongs after the rules`);
    return rules;
  }

  // ------------------------------------------------------------ the entry

  const ENTRY = /^\{"(text|sha256)":("(?:[^"\\]|\\.)*")(?:,"author":"([0-9a-f]{64})")?(?:,"stamp":(0|[1-9][0-9]*))?(?:,"sig":"([0-9a-f]{128})")?\}$/;

  // An entry's canonical line, read: its content, author, stamp and
  // signature, and its unsigned encoding. Throws `check` with the reason.
  function readEntry(line, check) {
    const bad = (reason) => fail(check, reason);
    const m = ENTRY.exec(line);
    if (!m) {
      bad(
        'it is not an entry\'s canonical encoding: a JSON object with "text" or "sha256", then ' +
          'optionally "author", "stamp" and "sig", in that order, written without spaces',
      );
    }
    const [, kind, token, author, stamp, sig] = m;
    const entry = { line, kind, author: author || null, stamp: stamp === undefined ? null : stamp, sig: sig || null };
    if (kind === "text") {
      const text = canonicalString(token);
      if (text === null) bad("its text is not a JSON string written as the format writes it");
      if (text === "") bad("its text is empty");
      entry.text = text;
    } else {
      const digest = token.slice(1, -1);
      if (token.length !== 66 || !HEX64.test(digest)) bad("its sha256 is not 64 lowercase hex digits");
      entry.sha256 = digest;
    }
    if (stamp !== undefined && BigInt(stamp) > (1n << 64n) - 1n) bad(`its stamp ${stamp} is more than 2^64-1`);
    if (Boolean(author) !== Boolean(sig)) bad('it has an "author" without a "sig", or a "sig" without an "author"');
    entry.unsigned = sig ? line.slice(0, line.length - 138) + "}" : line;
    return entry;
  }

  function leadingZeroBits(bytes) {
    let bits = 0;
    for (const b of bytes) {
      if (b === 0) {
        bits += 8;
        continue;
      }
      return bits + Math.clz32(b) - 24;
    }
    return bits;
  }

  // Checks an entry line against the network's rules: its size, its
  // stamp and its signature. Adds `id` and `signature` ("valid",
  // "unsigned" or "unchecked") to it.
  async function checkEntry(entry, rules, check, unchecked) {
    const bad = (reason) => fail(check, reason);
    if (BigInt(entry.line.length) > rules.maxEntryBytes) {
      bad(`its encoding is ${entry.line.length} bytes, more than the network's ${rules.maxEntryBytes}`);
    }
    const id = await sha256(ascii(entry.unsigned));
    entry.id = hex(id);
    const bits = leadingZeroBits(id);
    if (BigInt(bits) < rules.stampBits) {
      bad(`its id ${short(entry.id)} has ${bits} leading zero bits; the network asks for ${rules.stampBits} (its stamp is wrong)`);
    }
    if (!entry.sig) {
      entry.signature = "unsigned";
      return entry;
    }
    const message = ascii(`jbc-entry-signature/1\n${rules.genesis}\n${entry.unsigned}`);
    const good = await ed25519Verify(entry.author, entry.sig, message);
    if (good === false) {
      fail("the signature", `the entry's signature is not ${short(entry.author)}'s signature of it on this network`);
    }
    if (good === null) {
      entry.signature = "unchecked";
      unchecked.push(`the signature of entry ${short(entry.id)} by ${short(entry.author)}: ${(await ed25519Supported()).why}`);
    } else {
      entry.signature = "valid";
    }
    return entry;
  }

  // ------------------------------------------------------------ the file

  // The receipt's lines, read by keyword and checked for syntax.
  function readLines(text) {
    const lines = text.split("\n");
    lines.pop(); // after the last "\n"
    const receipt = { rules: [], path: [], blocks: [], context: null };
    let at = 1; // lines[0] is the version, lines[last] the checksum
    const last = lines.length - 1;
    const keyword = (i) => {
      const space = lines[i].indexOf(" ");
      return space < 0 ? lines[i] : lines[i].slice(0, space);
    };
    const take = (key, required) => {
      if (at < last && keyword(at) === key && lines[at].startsWith(`${key} `)) {
        const value = lines[at].slice(key.length + 1);
        at += 1;
        return value;
      }
      if (!required) return null;
      const found = at < last ? `"${lines[at].slice(0, 40)}${lines[at].length > 40 ? "…" : ""}"` : "the checksum";
      fail("the lines", `line ${at + 1} should be "${key} ...", it is ${found}`);
    };
    const lineNo = () => at; // the 1-based number of the line just taken
    let rule = take("rules", true);
    while (rule !== null) {
      receipt.rules.push(rule);
      rule = take("rules", false);
    }
    const header = (value, withIndex, what) => {
      const m = (withIndex ? /^(\S+) (\S+) (\S+) (".*")$/ : /^(\S+) (\S+) (".*")$/).exec(value);
      if (!m) fail("the lines", `${what} is not ${withIndex ? "index " : ""}timestamp nonce "data"`);
      const fields = m.slice(1);
      const out = {};
      if (withIndex) out.index = u64(fields.shift(), `${what}: the index`);
      out.timestamp = number(fields[0], `${what}: the timestamp`);
      out.nonce = u64(fields[1], `${what}: the nonce`);
      out.data = canonicalString(fields[2]);
      if (out.data === null) {
        fail("the lines", `${what}: the data is not a JSON string written as the format writes it (Python's json.dumps, ensure_ascii)`);
      }
      return out;
    };
    receipt.genesis = header(take("genesis", true), false, `line ${lineNo()} (the genesis block)`);
    receipt.entry = take("entry", true);
    receipt.entryLine = lineNo();
    const leaf = /^(\S+) of (\S+)$/.exec(take("leaf", true));
    if (!leaf) fail("the lines", `line ${lineNo()} is not "leaf P of N"`);
    receipt.position = u64(leaf[1], `line ${lineNo()}: the position`);
    receipt.count = u64(leaf[2], `line ${lineNo()}: the number of entries`);
    let step = take("path", false);
    while (step !== null) {
      receipt.path.push(hash64(step, `line ${lineNo()}: the path step`));
      step = take("path", false);
    }
    const context = take("context", false);
    if (context !== null) {
      const parts = context.split(" ");
      if (parts.length < 2 || parts.length > 13) {
        fail("the lines", `line ${lineNo()}: a context is a target and 1 to 12 timestamps`);
      }
      receipt.context = {
        target: big(hash64(parts[0], `line ${lineNo()}: the context's target`)),
        times: parts.slice(1).map((t) => number(t, `line ${lineNo()}: a timestamp of the context`)),
      };
    }
    receipt.prev = hash64(take("prev", true), `line ${lineNo()}: prev`);
    let block = take("block", true);
    while (block !== null) {
      const fields = header(block, true, `line ${lineNo()} (a block)`);
      fields.line = lineNo();
      receipt.blocks.push(fields);
      block = take("block", false);
    }
    if (at !== last) fail("the lines", `line ${at + 1} ("${lines[at].slice(0, 40)}") is out of place: after the blocks comes the checksum`);
    return receipt;
  }

  // ------------------------------------------------------------ the check

  // The target after a block at `parent` given the window of timestamps
  // ending with that block's (the rules' `next`).
  function nextTarget(rules, parent, window) {
    const { blockTime, halflife } = rules;
    let solve;
    let low;
    if (rules.version === "asert-median/2") {
      solve = window.length >= 12 ? median(window.slice(1, 12)) - median(window.slice(0, 11)) : blockTime;
      low = blockTime - halflife;
    } else {
      solve = window.length >= 2 ? window[window.length - 1] - window[window.length - 2] : blockTime;
      low = blockTime - 320n * halflife;
    }
    const high = blockTime + halflife;
    if (solve < low) solve = low;
    if (solve > high) solve = high;
    const exponent = floorDiv((solve - blockTime) * 65536n, halflife);
    const shifts = floorDiv(exponent, 65536n);
    const frac = exponent - shifts * 65536n;
    const factor =
      65536n + ((195766423245049n * frac + 971821376n * frac ** 2n + 5127n * frac ** 3n + (1n << 47n)) >> 48n);
    const shift = shifts - 16n;
    let next = shift >= 0n ? (parent * factor) << shift : (parent * factor) >> -shift;
    if (next > rules.maxTarget) next = rules.maxTarget;
    if (next === 0n) next = 1n;
    return next;
  }

  // The hash of a block from its fields.
  function blockHash(index, prevHash, data, timestamp, nonce) {
    return sha256Hex(utf8(`${index}${prevHash}${data}${timestamp}${nonce}`));
  }

  // Checks the receipt in `bytes` (a Uint8Array) at the verifier's clock
  // `nowMs`. Throws Invalid; answers what the receipt proves.
  async function verify(bytes, nowMs) {
    if (bytes.length > MAX_BYTES) {
      fail("the file", `it is ${bytes.length} bytes: receipts are smaller than ${MAX_BYTES / 1024 / 1024} MiB`);
    }
    // The version first.
    let firstEnd = bytes.indexOf(0x0a);
    if (firstEnd < 0) firstEnd = bytes.length;
    const first = String.fromCharCode(...bytes.subarray(0, Math.min(firstEnd, 64)));
    if (first === `${FORMAT}\r`) {
      fail("the file", "its lines end in \\r\\n (Windows line endings): a receipt's lines end in \\n alone; the file was changed");
    }
    if (first !== FORMAT) {
      const shown = first.replace(/[^\x20-\x7e]/g, "?").slice(0, 40);
      fail("the file", `it is not a jbc-receipt/1 file: its first line reads "${shown}"`);
    }
    // Then the checksum of every byte above its line.
    if (bytes[bytes.length - 1] !== 0x0a) fail("the file", "it does not end with a line break: it was cut short or changed");
    const lastStart = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
    const lastLine = String.fromCharCode(...bytes.subarray(lastStart, Math.min(bytes.length - 1, lastStart + 80)));
    if (!lastLine.startsWith("checksum ") || !HEX64.test(lastLine.slice(9)) || bytes.length - 1 - lastStart !== 73) {
      fail("the checksum", "the last line is not \"checksum\" and 64 hex digits: the file was cut short or changed");
    }
    const sum = await sha256Hex(bytes.subarray(0, lastStart));
    if (sum !== lastLine.slice(9)) {
      fail("the checksum", "the checksum does not match the file: it was damaged or changed after it was made");
    }
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] >= 0x80) fail("the file", `byte ${i} is not ASCII: a receipt is ASCII text`);
      if (bytes[i] === 0x0d) fail("the file", "it has a \\r: a receipt's lines end in \\n alone");
    }
    const r = readLines(new TextDecoder("ascii").decode(bytes));

    // The network: its id text and genesis block.
    const idText = r.rules.join("\n");
    const rules = readRules(r.rules);
    const networkId = await sha256Hex(ascii(idText));
    if (rules.kind === "retarget" && !r.context) {
      fail("the lines", "the network has a block time, and the receipt has no context line (the target and times before its blocks)");
    }
    if (rules.kind === "fixed" && r.context) {
      fail("the lines", "the network has a fixed target, and the receipt has a context line, which only block-time networks have");
    }
    const g = r.genesis;
    const genesisHash = await blockHash(0, "", g.data, g.timestamp, g.nonce);
    if (genesisHash !== rules.genesis) {
      fail("the genesis block", `the genesis line hashes to ${short(genesisHash)}, not to the genesis ${short(rules.genesis)} the rules name`);
    }

    // The entry.
    const unchecked = [];
    const entry = readEntry(r.entry, "the entry");
    await checkEntry(entry, rules, "the entry", unchecked);

    // The entry in its block.
    const block = r.blocks[0];
    const bad = (reason) => fail("the entry in its block", reason);
    if (r.position >= r.count) bad(`it is "leaf ${r.position} of ${r.count}": there is no such leaf`);
    if (rules.merkle) {
      const lines = block.data.split("\n");
      const note = lines.length === 3 && lines[1].startsWith("note ") ? canonicalString(lines[1].slice(5)) : null;
      const committed = lines.length === 3 ? /^entries (\S+) ([0-9a-f]{64})$/.exec(lines[2]) : null;
      if (lines[0] !== "jbc-entries/2" || note === null || !committed || !NUMBER.test(committed[1])) {
        bad('the block\'s data is not the three lines "jbc-entries/2", "note ..." and "entries N ROOT"');
      }
      if (BigInt(committed[1]) !== r.count) {
        bad(`the block commits to ${committed[1]} entries, the receipt says ${r.count}`);
      }
      // RFC 9162, 2.1.3.2.
      let fn = r.position;
      let sn = r.count - 1n;
      let node = await sha256(concat(new Uint8Array([0]), ascii(entry.line)));
      for (const step of r.path) {
        if (sn === 0n) bad("its Merkle path is longer than the tree is deep");
        const p = unhex(step);
        if (fn % 2n === 1n || fn === sn) {
          node = await sha256(concat(new Uint8Array([1]), p, node));
          if (fn % 2n === 0n) {
            while (fn % 2n === 0n && fn !== 0n) {
              fn >>= 1n;
              sn >>= 1n;
            }
          }
        } else {
          node = await sha256(concat(new Uint8Array([1]), node, p));
        }
        fn >>= 1n;
        sn >>= 1n;
      }
      if (sn !== 0n) bad("its Merkle path is shorter than the tree is deep");
      if (hex(node) !== committed[2]) {
        bad(`its Merkle path leads to ${short(hex(node))}, not to the Merkle root ${short(committed[2])} the block commits to: the entry is not in this block`);
      }
    } else {
      if (r.path.length > 0) bad("the network's blocks carry their entries in their data, and the receipt has a Merkle path");
      const lines = block.data.split("\n");
      const note = lines.length >= 2 && lines[1].startsWith("note ") ? canonicalString(lines[1].slice(5)) : null;
      if (lines[0] !== "jbc-entries/1" || note === null) {
        bad('the block\'s data does not start with the lines "jbc-entries/1" and "note ..."');
      }
      const listed = lines.slice(2);
      if (BigInt(listed.length) !== r.count) bad(`the block carries ${listed.length} entries, the receipt says ${r.count}`);
      if (listed[Number(r.position)] !== entry.line) {
        bad(`entry ${r.position} of the block is not the receipt's entry`);
      }
      if (rules.strict) {
        const size = utf8(block.data).length;
        if (BigInt(size) > rules.maxBlockDataBytes) {
          bad(`the block's data is ${size} bytes, more than the network's ${rules.maxBlockDataBytes}: no block of this strict network holds it`);
        }
        const seen = new Set();
        for (let i = 0; i < listed.length; i++) {
          const check = "the entry in its block";
          let other;
          try {
            other = i === Number(r.position) ? entry : await checkEntry(readEntry(listed[i], check), rules, check, unchecked);
          } catch (e) {
            if (e instanceof Invalid) {
              bad(`entry ${i} of the block is not valid on this strict network (${e.check === "the signature" ? "its signature is wrong" : e.message}): no block of this network holds it`);
            }
            throw e;
          }
          if (seen.has(other.id)) bad(`entry ${i} of the block repeats an entry before it: no block of this strict network holds it`);
          seen.add(other.id);
        }
      }
    }

    // The chain of blocks, their targets and work; the time rules.
    const chain = "the chain of blocks";
    const time = "the time";
    const unitMs = rules.kind === "retarget" ? 1n : 1000n;
    const maxFutureMs = rules.kind === "retarget" ? rules.maxFuture : FIXED_MAX_FUTURE_MS;
    const now = BigInt(Math.floor(nowMs));
    let parentTarget = null;
    let window = [];
    if (r.context) {
      if (r.context.target > rules.maxTarget) {
        fail(chain, "the context's target is above the network's max_target");
      }
      parentTarget = r.context.target;
      window = r.context.times.slice();
    }
    let prevHash = r.prev;
    let prevIndex = null;
    let work = 0n;
    const hashes = [];
    for (const [i, b] of r.blocks.entries()) {
      const name = `block ${b.index} (line ${b.line})`;
      if (prevIndex === null) {
        if (b.index === 0n) fail(chain, `the entry's block has index 0: the genesis block carries no entries`);
      } else if (b.index !== prevIndex + 1n) {
        fail(chain, `${name} follows block ${prevIndex}: blocks are missing or out of order`);
      }
      const hash = await blockHash(b.index, prevHash, b.data, b.timestamp, b.nonce);
      let target;
      if (rules.kind === "retarget") {
        target = nextTarget(rules, parentTarget, window);
        const m = median(window.slice(-11));
        if (b.timestamp <= m) {
          fail(time, `${name} is stamped ${b.timestamp}, not after the median ${m} of the 11 blocks before it`);
        }
      } else {
        target = rules.target;
      }
      if (b.timestamp < g.timestamp) fail(time, `${name} is stamped before the genesis block`);
      if (b.timestamp * unitMs > now + maxFutureMs) {
        fail(time, `${name} is stamped ${ago(b.timestamp * unitMs - now)} ahead of this computer's clock; at most ${ago(maxFutureMs)} is allowed`);
      }
      if (big(hash) > target) {
        fail(chain, `${name} hashes to ${short(hash)}, which does not meet its target ${short(target.toString(16).padStart(64, "0"))}`);
      }
      work += TWO_256 / (target + 1n);
      hashes.push(hash);
      parentTarget = target;
      window.push(b.timestamp);
      if (window.length > 12) window.shift();
      prevHash = hash;
      prevIndex = b.index;
    }

    return {
      verdict: unchecked.length ? "unchecked" : "valid",
      unchecked,
      entry,
      networkId,
      genesisHash,
      rules,
      block: {
        index: block.index,
        hash: hashes[0],
        timestamp: block.timestamp,
        timeMs: Number(block.timestamp * unitMs),
      },
      prev: r.prev,
      hashes,
      confirmations: r.blocks.length,
      work,
    };
  }

  function ago(ms) {
    const s = Number(ms) / 1000;
    if (s < 120) return `${s.toFixed(1)} s`;
    if (s < 7200) return `${(s / 60).toFixed(1)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  // What a person adds: the entry must be the text, or stamp the file
  // whose SHA-256 is `digest` (hex); the receipt must be of network
  // `networkId`, hold block `checkpoint` (or start after it) and prove
  // `minWork` hashes at least, as `jbc verify`'s options ask. Throws
  // Invalid.
  function expect(verified, { text, digest, networkId, checkpoint, minWork }) {
    const entry = verified.entry;
    if (text !== undefined && text !== null) {
      if (entry.kind !== "text") {
        fail("the document", "the entry is not the text you gave: it stamps a document by its SHA-256, not a text");
      }
      if (entry.text !== text) fail("the document", "the entry is not the text you gave: it reads otherwise");
    }
    if (digest !== undefined && digest !== null) {
      if (entry.kind !== "sha256") {
        fail("the document", "the entry is not the document you gave: it is a text, not a document's SHA-256");
      }
      if (entry.sha256 !== digest) {
        fail("the document", `the entry is not the document you gave: the document's SHA-256 is ${short(digest)}, the entry's ${short(entry.sha256)}`);
      }
    }
    if (networkId && networkId !== verified.networkId) {
      fail("the network", `the receipt is for a block of network ${verified.networkId}, not of network ${networkId}`);
    }
    if (checkpoint && !verified.hashes.includes(checkpoint) && checkpoint !== verified.prev) {
      fail("the checkpoint", `block ${checkpoint} is not among the receipt's blocks (nor the one before them)`);
    }
    if (minWork !== undefined && minWork !== null && Number(verified.work) < minWork) {
      fail("the work", `the receipt's blocks prove about ${workText(verified.work)} hashes of work, less than the ${minWork} asked for`);
    }
  }

  // The check as the page shows it: never throws.
  async function check(bytes, nowMs, wanted = {}) {
    try {
      const verified = await verify(bytes, nowMs);
      expect(verified, wanted);
      return verified;
    } catch (e) {
      if (e instanceof Invalid) return { verdict: "invalid", check: e.check, reason: e.message };
      return { verdict: "invalid", check: "this page", reason: `the check itself failed: ${e && e.message}` };
    }
  }

  // "about 7.636e6 hashes", as `jbc verify` writes it.
  function workText(work) {
    const [mantissa, exponent] = Number(work).toExponential(3).split("e");
    return `${mantissa}e${exponent.replace("+", "")}`;
  }

  return {
    check,
    verify,
    expect,
    sha256,
    sha256Plain,
    hex,
    workText,
    pythonJsonString,
    ed25519Supported,
    secure: () => Boolean(subtle()),
  };
})();

if (typeof module !== "undefined") module.exports = JbcReceipt;
