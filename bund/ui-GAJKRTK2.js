import {
  summarizeStack
} from "./chunk-VYRODRNF.js";
import {
  processMaps
} from "./chunk-RMFRWLF7.js";
import {
  compilePattern,
  searchStack
} from "./chunk-FMNS64R2.js";
import {
  diffStacks
} from "./chunk-ANCS5L76.js";
import "./chunk-PBZ3FNF4.js";
import {
  parsePort
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  PAGE_SIZE,
  openStack
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import {
  partitionPoint
} from "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams
} from "./chunk-KQHSUXQF.js";
import {
  ForeignRequestError,
  MemoryAccessError,
  NotFoundError,
  PagestackError,
  RequestError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/ui.ts
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join as join2 } from "node:path";
import { fileURLToPath as fileURLToPath3 } from "node:url";

// src/server/http/explorer.ts
import { fork } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath as fileURLToPath2 } from "node:url";

// src/server/http/search-worker.ts
import { fileURLToPath } from "node:url";
var SearchLimitReached = class extends Error {
};
async function runSearch(job, open) {
  const pattern = compilePattern(job.text, {
    hex: job.mode === "hex",
    regex: job.mode === "regex",
    utf16: job.utf16
  });
  const stack = open ?? await openTarget(job.target);
  try {
    const matches = [];
    let truncated = false;
    let bytesSearched = null;
    const onMatch = (m) => {
      if (m.pid !== job.pid) return;
      if (matches.length >= job.max) {
        truncated = true;
        throw new SearchLimitReached();
      }
      matches.push({
        address: m.address,
        length: m.length,
        vma: m.vma,
        layer: m.layer,
        layerName: m.layerName,
        shared: m.shared,
        contextStart: m.contextStart,
        context: Buffer.from(m.context.buffer, m.context.byteOffset, m.context.byteLength).toString("base64")
      });
    };
    try {
      const s = await searchStack(stack, pattern, { pid: job.pid, context: job.context, onMatch });
      bytesSearched = s.bytesSearched;
    } catch (e) {
      if (!(e instanceof SearchLimitReached)) throw e;
    }
    matches.sort((x, y) => x.address - y.address);
    return { ok: true, matches, truncated, bytesSearched };
  } finally {
    if (!open) await stack.close();
  }
}
function replyOf(e) {
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    ok: false,
    error: {
      name: err.name,
      message: err.message,
      code: e instanceof PagestackError ? e.code : null,
      data: e instanceof PagestackError ? { ...e.data } : {}
    }
  };
}
if (process.send !== void 0 && process.argv[1] === fileURLToPath(import.meta.url)) {
  process.once("disconnect", () => process.exit(0));
  process.once("message", (job) => {
    const reply = (r) => {
      process.send(r, () => process.exit(0));
    };
    runSearch(job).then(reply, (e) => reply(replyOf(e)));
  });
}

// src/server/http/strip.ts
function classRuns(n) {
  return { start: new Float64Array(n), end: new Float64Array(n), cls: new Int16Array(n), count: 0 };
}
function buildStrip(ranges, runs, fill, gapClass, classCount) {
  let mapped = 0;
  for (const r of ranges) mapped += (r.end - r.start) / PAGE_SIZE;
  const gap = Math.max(1, Math.ceil(mapped / 200));
  const laid = [];
  const cap = 2 * runs.count + 2 * ranges.length + 1;
  const segStart = new Float64Array(cap);
  const segEnd = new Float64Array(cap);
  const segClass = new Int16Array(cap);
  let n = 0;
  const push = (s, e, c) => {
    if (e <= s) return;
    if (n > 0 && segClass[n - 1] === c && segEnd[n - 1] === s) segEnd[n - 1] = e;
    else {
      segStart[n] = s;
      segEnd[n] = e;
      segClass[n] = c;
      n++;
    }
  };
  let at = 0;
  let j = 0;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i];
    if (i > 0 && ranges[i - 1].end !== r.start) {
      push(at, at + gap, gapClass);
      at += gap;
    }
    laid.push({ start: r.start, end: r.end, at, ref: r.ref });
    const p0 = r.start / PAGE_SIZE;
    const p1 = r.end / PAGE_SIZE;
    while (j < runs.count && runs.end[j] <= p0) j++;
    let cur = p0;
    for (let k = j; k < runs.count && runs.start[k] < p1; k++) {
      const s = Math.max(cur, runs.start[k]);
      const e = Math.min(p1, runs.end[k]);
      if (s > cur) push(at + (cur - p0), at + (s - p0), fill);
      if (e > s) push(at + (s - p0), at + (e - p0), runs.cls[k]);
      cur = Math.max(cur, e);
    }
    push(at + (cur - p0), at + (p1 - p0), fill);
    at += p1 - p0;
  }
  return {
    ranges: laid,
    total: at,
    gap,
    segStart,
    segEnd,
    segClass,
    segCount: n,
    classCount
  };
}
function firstSegment(s, pos) {
  return partitionPoint(0, s.segCount, (i) => s.segEnd[i] <= pos);
}
function summarize(s, from, to, buckets) {
  const w = (to - from) / buckets;
  const acc = new Float64Array(s.classCount);
  const runs = [];
  let key = "";
  let k = firstSegment(s, from);
  for (let b = 0; b < buckets; b++) {
    const b0 = from + b * w;
    const b1 = b === buckets - 1 ? to : from + (b + 1) * w;
    acc.fill(0);
    while (k < s.segCount && s.segEnd[k] <= b0) k++;
    for (let i = k; i < s.segCount && s.segStart[i] < b1; i++) {
      const c = Math.min(b1, s.segEnd[i]) - Math.max(b0, s.segStart[i]);
      if (c > 0) acc[s.segClass[i]] += c;
    }
    const mix = [];
    let covered = 0;
    for (let c = 0; c < s.classCount; c++) covered += acc[c];
    if (covered > 0) {
      for (let c = 0; c < s.classCount; c++) {
        const share = Math.round(acc[c] / covered * 255);
        if (share > 0) mix.push(c, share);
      }
    }
    const mk = mix.join(",");
    const last = runs[runs.length - 1];
    if (last && mk === key) last.n++;
    else {
      runs.push({ n: 1, mix });
      key = mk;
    }
  }
  return runs;
}
function rangeAt(s, addr) {
  const r = s.ranges[partitionPoint(0, s.ranges.length, (i) => s.ranges[i].end <= addr)];
  return r && r.start <= addr ? r : void 0;
}
function stripPosition(s, addr) {
  const r = rangeAt(s, addr);
  return r ? r.at + (addr - r.start) / PAGE_SIZE : null;
}
function classAt(s, pos) {
  const i = firstSegment(s, pos);
  return i < s.segCount && s.segStart[i] <= pos ? s.segClass[i] : -1;
}

// src/server/http/explorer.ts
var MAX_READ = 64 * 1024;
var MAX_BUCKETS = 8192;
var MAX_SEARCH_MATCHES = 1e3;
var DEFAULT_SEARCH_MATCHES = 200;
var MAX_PATTERN = 4096;
var SEARCH_CONTEXT = 16;
var SEARCH_IN_PROCESS_BYTES = 64 * 1024 * 1024;
var DIFF_CLASSES = ["equal", "changed", "added", "removed", "lazy", "neither", "gap"];
var DIFF_NAMES = {
  equal: "equal",
  changed: "changed",
  added: "added (only in B)",
  removed: "removed (only in A)",
  lazy: "lazy (not compared)",
  neither: "not dumped in either",
  gap: "gap (unmapped)"
};
function rangeInfo(v, start, end, at) {
  const pages = (end - start) / PAGE_SIZE;
  return {
    start,
    end,
    at,
    pages,
    perms: v ? v.perms : "----",
    name: v ? v.name : "(pages outside every VMA)",
    dumped: v ? v.dumped : pages,
    lazy: v ? v.lazy : 0,
    notDumped: v ? v.notDumped : 0
  };
}
function mappedRanges(m) {
  const out = m.vmas.map((v, i) => ({ start: v.start, end: v.end, ref: i }));
  for (const e of m.outside) out.push({ start: e.start, end: e.end, ref: -1 });
  out.sort((a, b) => a.start - b.start);
  const merged = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && last.ref === -1 && r.ref === -1 && last.end >= r.start) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}
function allExtents(m) {
  const out = [];
  for (const v of m.vmas) for (const e of v.extents) out.push(e);
  if (m.outside.length > 0) {
    for (const e of m.outside) out.push(e);
    out.sort((a, b) => a.start - b.start);
  }
  return out;
}
function extentAt(xs, addr) {
  const e = xs[partitionPoint(0, xs.length, (i) => xs[i].end <= addr)];
  return e && e.start <= addr ? e : void 0;
}
function unionRanges(lists) {
  const all = lists.flat().sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const [s, e] of all) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}
function intersect(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const s = Math.max(a[i][0], b[j][0]);
    const e = Math.min(a[i][1], b[j][1]);
    if (s < e) out.push([s, e]);
    if (a[i][1] < b[j][1]) i++;
    else j++;
  }
  return out;
}
function pageRanges(p) {
  return p.start.map((s, i) => [s, p.end[i]]);
}
function dumpedPages(m) {
  return unionRanges([
    allExtents(m).filter((e) => e.layer >= 0).map((e) => [e.start / PAGE_SIZE, e.end / PAGE_SIZE])
  ]);
}
function paint(lists) {
  const points = /* @__PURE__ */ new Set();
  for (const l of lists)
    for (const [s, e] of l.ranges) {
      points.add(s);
      points.add(e);
    }
  const xs = [...points].sort((a, b) => a - b);
  const idx = lists.map(() => 0);
  const runs = classRuns(Math.max(0, xs.length - 1));
  for (let p = 0; p + 1 < xs.length; p++) {
    const s = xs[p];
    const e = xs[p + 1];
    let cls = -1;
    for (let l = 0; l < lists.length; l++) {
      const r = lists[l].ranges;
      while (idx[l] < r.length && r[idx[l]][1] <= s) idx[l]++;
      const cur = r[idx[l]];
      if (cls < 0 && cur && cur[0] <= s) cls = lists[l].cls;
    }
    if (cls < 0) continue;
    const k = runs.count - 1;
    if (k >= 0 && runs.cls[k] === cls && runs.end[k] === s) runs.end[k] = e;
    else {
      runs.start[runs.count] = s;
      runs.end[runs.count] = e;
      runs.cls[runs.count] = cls;
      runs.count++;
    }
  }
  return runs;
}
function toBase64(b) {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}
function searchProcess() {
  const here = fileURLToPath2(import.meta.url);
  const file = fileURLToPath2(new URL(`./search-worker${extname(here)}`, import.meta.url));
  const execArgv = [];
  if (extname(here) === ".ts") {
    const a = process.execArgv;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === "--import" && a[i + 1] !== void 0) execArgv.push(a[i], a[++i]);
      else if (a[i].startsWith("--import=")) execArgv.push(a[i]);
    }
  }
  return fork(file, [], { execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
}
var Explorer = class _Explorer {
  constructor(target, stack, others) {
    this.target = target;
    this.stack = stack;
    this.others = others;
  }
  target;
  stack;
  others;
  models = /* @__PURE__ */ new Map();
  layerStacks = /* @__PURE__ */ new Map();
  diffs = /* @__PURE__ */ new Map();
  mapsOf = /* @__PURE__ */ new Map();
  summary = null;
  prepareTimer = null;
  searching = null;
  static async open(target, others = []) {
    return new _Explorer(target, await openTarget(target), others);
  }
  async close() {
    if (this.prepareTimer) clearTimeout(this.prepareTimer);
    this.searching?.cancel(new RequestError("the explorer is closing"));
    const stacks = [...this.layerStacks.values()];
    this.layerStacks.clear();
    for (const p of stacks) await (await p.catch(() => null))?.close();
    await this.stack.close();
  }
  /**
   * Does the costly work the page will ask for: resolves the stack and lays out the strip of each
   * process (for big stacks, seconds). `pagestack ui` runs it after printing the URL; requests
   * made meanwhile wait on the same promises.
   */
  async prepare() {
    await this.stackInfo();
    for (const p of await this.stack.processes()) await this.model(p.pid).catch(() => void 0);
  }
  /**
   * prepare() in the background (what `pagestack ui` does once the URL is printed), after
   * `delayMs`: a page opened at once gets its own files first (resolving holds the event loop for
   * long stretches), and its first API request starts the same work itself; a page opened later
   * finds it done. The page gets errors through the API; `onError` hears of the stack's (bad
   * images found while resolving) too.
   */
  prepareInBackground(delayMs = 1e3, onError) {
    if (this.prepareTimer) return;
    this.prepareTimer = setTimeout(() => {
      this.prepare().catch((e) => onError?.(e));
    }, delayMs);
    this.prepareTimer.unref();
  }
  /** The stack's summary, computed once (the images do not change under a running explorer). */
  stackInfo() {
    if (!this.summary) {
      const p = this.buildStackInfo();
      this.summary = p;
      p.catch(() => {
        if (this.summary === p) this.summary = null;
      });
    }
    return this.summary;
  }
  async buildStackInfo() {
    const s = await summarizeStack(this.stack);
    const per = s.layers.map(() => ({ held: 0, fromBelow: 0, used: 0 }));
    const pagemaps = [...s.processes.map((p) => p.memory), ...s.shmem];
    for (const m of pagemaps) {
      for (const l of m?.perLayer ?? []) {
        const c = per[l.layer];
        if (!c) continue;
        c.held += l.held;
        c.fromBelow += l.fromBelow;
        c.used += l.used;
      }
    }
    return {
      top: s.top,
      layers: s.layers.map((l, i) => ({
        index: l.index,
        name: l.name,
        size: l.size,
        allocated: l.allocated,
        deduplicated: l.deduplicated,
        note: l.note,
        ...per[i]
      })),
      processes: s.processes.map((p) => ({
        pid: p.pid,
        ppid: p.ppid,
        comm: p.comm,
        threads: p.threads,
        dumpedPages: p.memory?.dumpedPages ?? 0,
        lazyPages: p.memory?.lazyPages ?? 0
      })),
      others: this.others.map((name, i) => ({ id: `d${i}`, name })),
      totals: s.totals
    };
  }
  model(pid) {
    let p = this.models.get(pid);
    if (!p) {
      p = this.buildModel(pid);
      this.models.set(pid, p);
      p.catch(() => this.models.delete(pid));
    }
    return p;
  }
  async buildModel(pid) {
    await this.stack.pickPid(pid);
    const maps = await processMaps(this.stack, pid);
    const mem = await this.stack.process(pid);
    const L = this.stack.layers.length;
    const classes = [];
    for (let l = 0; l < L; l++) {
      classes.push({ id: l, name: `layer ${l}`, kind: "layer", layer: l });
    }
    const LAZY = L;
    const NOT_DUMPED = L + 1;
    const GAP = L + 2;
    classes.push({ id: LAZY, name: "lazy", kind: "lazy", layer: null });
    classes.push({ id: NOT_DUMPED, name: "not dumped", kind: "not-dumped", layer: null });
    classes.push({ id: GAP, name: "gap (unmapped)", kind: "gap", layer: null });
    const extents = allExtents(maps);
    const runs = classRuns(extents.length);
    for (const e of extents) {
      runs.start[runs.count] = e.start / PAGE_SIZE;
      runs.end[runs.count] = e.end / PAGE_SIZE;
      runs.cls[runs.count] = e.layer >= 0 ? e.layer : LAZY;
      runs.count++;
    }
    const strip = buildStrip(mappedRanges(maps), runs, NOT_DUMPED, GAP, classes.length);
    const ranges = strip.ranges.map(
      (r) => rangeInfo(r.ref >= 0 ? maps.vmas[r.ref] : null, r.start, r.end, r.at)
    );
    return { maps, mem, strip, classes, ranges, extents };
  }
  async mapInfo(pid) {
    const m = await this.model(pid);
    return {
      pid,
      comm: m.maps.comm,
      classes: m.classes,
      total: m.strip.total,
      gap: m.strip.gap,
      ranges: m.ranges,
      vsyscall: m.maps.vsyscall,
      totals: m.maps.totals
    };
  }
  async runs(pid, from, to, buckets) {
    return window((await this.model(pid)).strip, from, to, buckets);
  }
  state(m, addr) {
    const extent = extentAt(m.extents, addr);
    if (extent) return { state: extent.layer >= 0 ? "dumped" : "lazy", extent };
    const mapped = m.maps.vmas.length === 0 ? false : m.mem.vmaAt(addr) !== void 0;
    return { state: mapped ? "not-dumped" : "unmapped", extent };
  }
  async pageInfo(pid, addr) {
    const m = await this.model(pid);
    const page = addr - addr % PAGE_SIZE;
    const { state, extent } = this.state(m, addr);
    const layer = extent && extent.layer >= 0 ? extent.layer : null;
    const r = rangeAt(m.strip, addr);
    return {
      addr,
      page,
      state,
      layer,
      layerName: layer === null ? null : this.stack.layers[layer].source.name,
      fileOffset: extent && layer !== null ? extent.fileOffset + (page - extent.start) : null,
      vma: r ? m.ranges[m.strip.ranges.indexOf(r)] : null
    };
  }
  /**
   * `len` bytes at `addr`, one piece per page: its bytes and the layer they come from, or why the
   * library refuses to read it (not dumped, lazy, unmapped) in its own words.
   */
  async read(pid, addr, len) {
    if (len > MAX_READ) throw new RequestError(`len ${len}: at most ${MAX_READ} bytes per request`);
    if (addr + len > Number.MAX_SAFE_INTEGER) {
      throw new RequestError(`address 0x${addr.toString(16)} + ${len} is beyond 2^53`);
    }
    const m = await this.model(pid);
    const pieces = [];
    let cur = addr;
    const end = addr + len;
    while (cur < end) {
      const stop = Math.min(end, cur - cur % PAGE_SIZE + PAGE_SIZE);
      const { state, extent } = this.state(m, cur);
      const layer = extent && extent.layer >= 0 ? extent.layer : null;
      const piece = {
        addr: cur,
        len: stop - cur,
        state,
        layer,
        layerName: layer === null ? null : this.stack.layers[layer].source.name,
        data: null,
        refusal: null
      };
      try {
        piece.data = toBase64(await m.mem.read(cur, stop - cur));
      } catch (e) {
        if (!(e instanceof MemoryAccessError)) throw e;
        piece.state = e.reason;
        piece.refusal = e.message;
      }
      pieces.push(piece);
      cur = stop;
    }
    const r = rangeAt(m.strip, addr);
    return { addr, len, pieces, vma: r ? m.ranges[m.strip.ranges.indexOf(r)] : null };
  }
  /** A stack by id: a layer index of the explorer's stack ("0" = top) or "dN", an extra directory. */
  stackById(id) {
    let p = this.layerStacks.get(id);
    if (p) return p;
    const d = /^d(\d+)$/.exec(id);
    if (d) {
      const dir = this.others[Number(d[1])];
      if (dir === void 0) throw new RequestError(`no directory '${id}': ${this.others.length} given`);
      p = openTarget(dir);
    } else if (/^\d+$/.test(id)) {
      const layer = this.stack.layers[Number(id)];
      if (!layer) {
        throw new RequestError(`no layer ${id}: the stack has layers 0 to ${this.stack.layers.length - 1}`);
      }
      p = Number(id) === 0 ? Promise.resolve(this.stack) : openStack(layer.source);
    } else {
      throw new RequestError(`'${id}': expected a layer index (0 = top) or dN (an extra directory)`);
    }
    this.layerStacks.set(id, p);
    p.catch(() => this.layerStacks.delete(id));
    return p;
  }
  stackName(id) {
    const d = /^d(\d+)$/.exec(id);
    return d ? this.others[Number(d[1])] : this.stack.layers[Number(id)].source.name;
  }
  mapsFor(id, stack, pid) {
    const key = `${id}\0${pid}`;
    let p = this.mapsOf.get(key);
    if (!p) {
      p = processMaps(stack, pid);
      this.mapsOf.set(key, p);
      p.catch(() => this.mapsOf.delete(key));
    }
    return p;
  }
  diffModel(pid, a, b) {
    const key = `${pid}\0${a}\0${b}`;
    let p = this.diffs.get(key);
    if (!p) {
      p = this.buildDiff(pid, a, b);
      this.diffs.set(key, p);
      p.catch(() => this.diffs.delete(key));
    }
    return p;
  }
  async buildDiff(pid, a, b) {
    const [sa, sb] = await Promise.all([this.stackById(a), this.stackById(b)]);
    const result = await diffStacks(sa, sb, { pid });
    const d = result.processes[0];
    const [ma, mb] = await Promise.all([this.mapsFor(a, sa, pid), this.mapsFor(b, sb, pid)]);
    const C = Object.fromEntries(DIFF_CLASSES.map((k, i) => [k, i]));
    const both = intersect(dumpedPages(ma), dumpedPages(mb));
    const runs = paint([
      { cls: C.changed, ranges: pageRanges(d.changed) },
      { cls: C.added, ranges: pageRanges(d.added) },
      { cls: C.removed, ranges: pageRanges(d.removed) },
      { cls: C.lazy, ranges: pageRanges(d.lazy) },
      { cls: C.equal, ranges: both }
    ]);
    const union = unionRanges([
      mappedRanges(ma).map((r) => [r.start, r.end]),
      mappedRanges(mb).map((r) => [r.start, r.end])
    ]);
    const strip = buildStrip(
      union.map(([s, e], i) => ({ start: s, end: e, ref: i })),
      runs,
      C.neither,
      C.gap,
      DIFF_CLASSES.length
    );
    const vmaOf = (addr) => mb.vmas.find((v) => v.start <= addr && addr < v.end) ?? ma.vmas.find((v) => v.start <= addr && addr < v.end) ?? null;
    const ranges = strip.ranges.map((r) => {
      const info2 = rangeInfo(vmaOf(r.start), r.start, r.end, r.at);
      return { ...info2, pages: (r.end - r.start) / PAGE_SIZE };
    });
    const info = {
      pid,
      a: this.stackName(a),
      b: this.stackName(b),
      counts: {
        changed: d.changed.pages,
        added: d.added.pages,
        removed: d.removed.pages,
        equal: d.equalPages,
        lazy: d.lazy.pages
      },
      classes: DIFF_CLASSES.map((k, i) => ({ id: i, name: DIFF_NAMES[k], kind: k, layer: null })),
      total: strip.total,
      gap: strip.gap,
      ranges
    };
    return { info, strip };
  }
  /** What the diff of `a` and `b` says of the page at `addr` (the diff map's hover). */
  async diffAt(pid, a, b, addr) {
    await this.stack.pickPid(pid);
    const d = await this.diffModel(pid, a, b);
    const page = addr - addr % PAGE_SIZE;
    const pos = stripPosition(d.strip, page);
    const cls = pos === null ? -1 : classAt(d.strip, pos);
    const c = d.info.classes[cls];
    const r = rangeAt(d.strip, addr);
    const kind = c && c.kind !== "gap" ? c.kind : "unmapped";
    return {
      addr,
      page,
      kind,
      name: c && kind !== "unmapped" ? c.name : "unmapped in both",
      vma: r ? d.info.ranges[d.strip.ranges.indexOf(r)] : null
    };
  }
  /**
   * `pagestack search` in one process (src/ops/search.ts, its own chunked, bounded reads), stopped
   * after `max` matches, in a process of its own (search-worker.ts) so the server answers the page
   * meanwhile. A newer search, or `signal` (the page went away), ends it. Shared memory matches
   * come once per mapping in this process.
   */
  async search(pid, text, mode, utf16, max, signal) {
    if (text.length > MAX_PATTERN) {
      throw new RequestError(`pattern of ${text.length} characters: at most ${MAX_PATTERN}`);
    }
    if (!Number.isInteger(max) || max < 1 || max > MAX_SEARCH_MATCHES) {
      throw new RequestError(`max ${max}: expected 1 to ${MAX_SEARCH_MATCHES} matches`);
    }
    compilePattern(text, { hex: mode === "hex", regex: mode === "regex", utf16 });
    await this.stack.pickPid(pid);
    this.searching?.cancel(new RequestError("search ended: a newer search replaced it"));
    const t0 = performance.now();
    const job = { target: this.target, pid, text, mode, utf16, max, context: SEARCH_CONTEXT };
    const held = (await this.model(pid)).maps.totals.dumped * PAGE_SIZE;
    const reply = held <= SEARCH_IN_PROCESS_BYTES ? await runSearch(job, this.stack).catch(replyOf) : await this.searchElsewhere(job, signal);
    if (!reply.ok) {
      const code = reply.error.code ?? "PAGESTACK_ERROR";
      const e = new PagestackError(reply.error.message, code, { ...reply.error.data });
      e.name = reply.error.name;
      throw e;
    }
    return {
      pid,
      pattern: text,
      mode,
      utf16,
      matches: reply.matches,
      truncated: reply.truncated,
      limit: max,
      bytesSearched: reply.bytesSearched,
      ms: Math.round(performance.now() - t0)
    };
  }
  /** A search in a process of its own (searchProcess), ended by a newer one or by `signal`. */
  searchElsewhere(job, signal) {
    const child = searchProcess();
    const end = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    return new Promise((resolve, reject) => {
      const cancel = (why) => {
        end();
        reject(why);
      };
      const mine = { cancel };
      this.searching = mine;
      const onAbort = () => cancel(new RequestError("search ended: the page went away"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        if (this.searching === mine) this.searching = null;
      };
      child.once("message", (r) => {
        done();
        resolve(r);
        end();
      });
      child.once("error", (e) => {
        done();
        end();
        reject(e);
      });
      child.once("exit", (code, sig) => {
        done();
        reject(new Error(`the search process exited (${sig ?? code}) without an answer`));
      });
      child.send(job);
    });
  }
  async diff(pid, a, b) {
    await this.stack.pickPid(pid);
    return (await this.diffModel(pid, a, b)).info;
  }
  async diffRuns(pid, a, b, from, to, buckets) {
    await this.stack.pickPid(pid);
    return window((await this.diffModel(pid, a, b)).strip, from, to, buckets);
  }
};
function window(strip, from, to, buckets) {
  if (!(to > from)) throw new RequestError(`empty window: from ${from} to ${to}`);
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw new RequestError(`buckets ${buckets}: expected 1 to ${MAX_BUCKETS}`);
  }
  return { from, to, buckets, runs: summarize(strip, from, to, buckets) };
}

// src/server/http/server.ts
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname as extname2, join, normalize, sep } from "node:path";
var TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".ico": "image/x-icon"
};
var CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
var STATUS = {
  PAGESTACK_BAD_REQUEST: 400,
  PAGESTACK_USAGE: 400,
  PAGESTACK_EMPTY_WINDOW: 400,
  PAGESTACK_LAYER_OUT_OF_RANGE: 400,
  PAGESTACK_PID_REQUIRED: 400,
  PAGESTACK_SEARCH_PATTERN: 400,
  PAGESTACK_FOREIGN_REQUEST: 403,
  PAGESTACK_NOT_FOUND: 404,
  PAGESTACK_NO_SUCH_PID: 404,
  PAGESTACK_NO_PAGEMAP: 404
};
function statusOf(err) {
  if (err instanceof PagestackError) return STATUS[err.code] ?? 422;
  return 500;
}
function errorBody(err) {
  const cls = err instanceof Error ? err.name : "Error";
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof PagestackError) {
    return { error: { class: cls, code: err.code, message, data: { ...err.data } } };
  }
  const code = err?.code;
  return {
    error: {
      class: cls,
      code: typeof code === "string" ? code : null,
      message: `internal error: ${message}`,
      data: {}
    }
  };
}
function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff"
  });
  res.end(text);
}
function checkOwnRequest(req, port) {
  const own = [`127.0.0.1:${port}`, `localhost:${port}`];
  const host = req.headers.host ?? "";
  if (!own.includes(host.toLowerCase())) {
    throw new ForeignRequestError(`Host '${host}' is not this server (${own.join(" or ")})`);
  }
  const origin = req.headers.origin;
  if (origin !== void 0 && !own.some((h) => origin.toLowerCase() === `http://${h}`)) {
    throw new ForeignRequestError(
      `Origin '${origin}' is not this server: requests from other pages are refused`
    );
  }
  const site = req.headers["sec-fetch-site"];
  if (site === "cross-site") {
    throw new ForeignRequestError("a cross-site request: requests from other pages are refused");
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new RequestError(`method ${req.method}: the explorer only answers GET`);
  }
}
function numberParam(q, name, fallback) {
  const text = q.get(name);
  if (text === null || text === "") {
    if (fallback !== void 0) return fallback;
    throw new RequestError(`missing parameter '${name}'`);
  }
  const t = text.trim().replace(/_/g, "");
  let v;
  if (/^0x[0-9a-f]+$/i.test(t)) {
    const big = BigInt(t);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RequestError(`${name} '${text}' is beyond 2^53, which pagestack cannot address`);
    }
    v = Number(big);
  } else if (/^[0-9]+(\.[0-9]+)?$/.test(t)) {
    v = Number(t);
    if (!Number.isFinite(v) || v > Number.MAX_SAFE_INTEGER) {
      throw new RequestError(`${name} '${text}' is beyond 2^53, which pagestack cannot address`);
    }
  } else {
    throw new RequestError(`${name} '${text}': expected a number in hex (0x...) or decimal`);
  }
  return v;
}
function intParam(q, name, fallback) {
  const v = numberParam(q, name, fallback);
  if (!Number.isInteger(v)) throw new RequestError(`${name} '${q.get(name)}': expected a whole number`);
  return v;
}
function textParam(q, name) {
  const v = q.get(name);
  if (v === null || v === "") throw new RequestError(`missing parameter '${name}'`);
  return v;
}
async function api(explorer, path, q, signal) {
  switch (path) {
    case "/api/stack":
      return explorer.stackInfo();
    case "/api/maps":
      return explorer.mapInfo(intParam(q, "pid"));
    case "/api/runs":
      return explorer.runs(
        intParam(q, "pid"),
        numberParam(q, "from"),
        numberParam(q, "to"),
        intParam(q, "buckets")
      );
    case "/api/at":
      return explorer.pageInfo(intParam(q, "pid"), intParam(q, "addr"));
    case "/api/read":
      return explorer.read(intParam(q, "pid"), intParam(q, "addr"), intParam(q, "len", 4096));
    case "/api/diff":
      return explorer.diff(intParam(q, "pid"), textParam(q, "a"), textParam(q, "b"));
    case "/api/diffruns":
      return explorer.diffRuns(
        intParam(q, "pid"),
        textParam(q, "a"),
        textParam(q, "b"),
        numberParam(q, "from"),
        numberParam(q, "to"),
        intParam(q, "buckets")
      );
    case "/api/diffat":
      return explorer.diffAt(intParam(q, "pid"), textParam(q, "a"), textParam(q, "b"), intParam(q, "addr"));
    case "/api/search": {
      const mode = q.get("mode") ?? "text";
      if (mode !== "text" && mode !== "hex" && mode !== "regex") {
        throw new RequestError(`mode '${mode}': expected text, hex or regex`);
      }
      return explorer.search(
        intParam(q, "pid"),
        textParam(q, "q"),
        mode,
        q.get("utf16") === "1",
        intParam(q, "max", DEFAULT_SEARCH_MATCHES),
        signal
      );
    }
    default:
      throw new NotFoundError(`no API endpoint ${path}`);
  }
}
async function serveStatic(webRoot2, path, res) {
  const rel = path === "/" ? "index.html" : decodeURIComponent(path.slice(1));
  const file = normalize(join(webRoot2, rel));
  if (!file.startsWith(webRoot2.endsWith(sep) ? webRoot2 : webRoot2 + sep)) {
    send(res, 404, errorBody(new NotFoundError(`no file ${path}`)));
    return;
  }
  let body;
  try {
    body = await readFile(file);
  } catch {
    if (rel === "index.html") {
      send(res, 500, {
        error: {
          class: "Error",
          code: "ENOENT",
          message: `${file}: the page is not built (run npm run build)`,
          data: { file }
        }
      });
    } else send(res, 404, errorBody(new NotFoundError(`no file ${path}`)));
    return;
  }
  res.writeHead(200, {
    "content-type": TYPES[extname2(file)] ?? "application/octet-stream",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache"
  });
  res.end(body);
}
async function startUiServer(opts) {
  const { explorer } = opts;
  const webRoot2 = normalize(opts.webRoot);
  let port = 0;
  const server = createServer((req, res) => {
    const handle = async () => {
      checkOwnRequest(req, port);
      const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
      if (url.pathname.startsWith("/api/")) {
        const gone = new AbortController();
        res.on("close", () => {
          if (!res.writableEnded) gone.abort();
        });
        send(res, 200, await api(explorer, url.pathname, url.searchParams, gone.signal));
      } else await serveStatic(webRoot2, url.pathname, res);
    };
    handle().catch((err) => {
      if (!res.headersSent) send(res, statusOf(err), errorBody(err));
      else res.end();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    server,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })
  };
}

// src/cli/ui.ts
function webRoot() {
  let dir = dirname(fileURLToPath3(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join2(dir, "package.json");
    if (existsSync(pkg) && /"name":\s*"pagestack"/.test(readFileSync(pkg, "utf8")))
      return join2(dir, "dist", "web");
    dir = dirname(dir);
  }
  throw new UsageError("cannot find the pagestack package (and its dist/web) around this module");
}
function openBrowser(url) {
  const paths = (process.env["PATH"] ?? "").split(":").filter(Boolean);
  if (!paths.some((p) => existsSync(join2(p, "xdg-open")))) {
    cliStreams().stderr("pagestack: --open: no xdg-open on PATH; open the URL yourself\n");
    return;
  }
  const child = spawn("xdg-open", [url], { stdio: "ignore", detached: true });
  child.on("error", (e) => cliStreams().stderr(`pagestack: --open: ${e.message}
`));
  child.unref();
}
function registerUi(program) {
  program.command("ui").description("a local web explorer of a stack: layers, the address space by layer, hex view, diff").argument("<target>", "image directory (the top layer of a stack)").option("--port <n>", "port on 127.0.0.1 (default: any free port)").option("--open", "open the page in the system browser (xdg-open)").option("--with <dir...>", "other image directories to diff against").action(async (target, opts) => {
    const port = parsePort(opts.port);
    const root = webRoot();
    if (!existsSync(join2(root, "index.html"))) {
      throw new UsageError(`${root}: the page is not built; run npm run build`);
    }
    const explorer = await Explorer.open(target, opts.with ?? []);
    try {
      await explorer.stack.processes();
      const server = await startUiServer({ explorer, webRoot: root, port });
      cliStreams().stdout(`pagestack ui: ${target} at ${server.url} (Ctrl-C to stop)
`);
      if (opts.open) openBrowser(server.url);
      explorer.prepareInBackground(
        1e3,
        (e) => cliStreams().stderr(
          `pagestack ui: ${e instanceof Error ? e.message : String(e)} (the page shows it too)
`
        )
      );
      await new Promise((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      await server.close();
    } finally {
      await explorer.close();
    }
  });
}
export {
  registerUi,
  webRoot
};
