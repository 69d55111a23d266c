import {
  outputError,
  writeAt,
  writeOutput
} from "./chunk-XWEEP4RX.js";
import {
  LAZY,
  PAGE_SIZE,
  findExtent,
  formatBytes,
  hex
} from "./chunk-NB7SHFDT.js";
import {
  ExportError
} from "./chunk-XLWXTOJZ.js";

// src/engine/progress.ts
var noProgress = {
  start() {
  },
  update() {
  },
  finish() {
  }
};
function textProgressBar(sink, opts = {}) {
  const interval = opts.intervalMs ?? 100;
  const now = opts.now ?? (() => Date.now());
  let total = 0;
  let label = "";
  let t0 = 0;
  let last = Number.NEGATIVE_INFINITY;
  let shown = false;
  let width = 0;
  const draw = (done) => {
    const cols = Math.max(40, Math.min(sink.columns ?? 80, 160));
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const secs = (now() - t0) / 1e3;
    const rate = secs > 0 ? `  ${formatBytes(done / secs)}/s` : "";
    const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(total)}${rate}`;
    const name = label.length > 24 ? `\u2026${label.slice(-23)}` : label;
    const barW = Math.max(10, cols - 1 - name.length - 3 - tail.length);
    const fill = Math.round(frac * barW);
    const line = `${name} [${"#".repeat(fill)}${"-".repeat(barW - fill)}]${tail}`;
    sink.write(`\r${line}${" ".repeat(Math.max(0, width - line.length))}`);
    width = line.length;
    shown = true;
  };
  return {
    start(t, l) {
      total = t;
      label = l;
      t0 = now();
      last = t0;
    },
    update(done) {
      const t = now();
      if (t - last < interval) return;
      last = t;
      draw(done);
    },
    finish() {
      if (shown) sink.write(`\r${" ".repeat(width)}\r`);
      shown = false;
      width = 0;
    }
  };
}

// src/ops/export-raw.ts
import { basename } from "node:path";

// src/engine/write-thread.ts
import { Worker } from "node:worker_threads";
var PUBLISHED = 0;
var WRITTEN = 1;
var FAILED = 2;
var STOP = 3;
var MAX_WRITES_PER_SLOT = 64;
var META_PER_SLOT = 1 + 3 * MAX_WRITES_PER_SLOT;
var WRITER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { data, ctl, meta, fd, slots, slotSize, metaPerSlot } = workerData;
const buf = new Uint8Array(data);
let k = 0;
for (;;) {
  while (Atomics.load(ctl, ${PUBLISHED}) === k && Atomics.load(ctl, ${STOP}) === 0) {
    Atomics.wait(ctl, ${PUBLISHED}, k, 1000);
  }
  if (Atomics.load(ctl, ${STOP}) !== 0) break;
  const s = k % slots;
  const m = s * metaPerSlot;
  const count = meta[m];
  if (count < 0) break;
  try {
    for (let i = 0; i < count; i++) {
      const at = s * slotSize + meta[m + 1 + 3 * i];
      const length = meta[m + 2 + 3 * i];
      const pos = meta[m + 3 + 3 * i];
      let done = 0;
      while (done < length) done += writeSync(fd, buf, at + done, length - done, pos + done);
    }
  } catch (e) {
    parentPort.postMessage({ message: String(e && e.message), code: e && e.code, errno: e && e.errno, syscall: e && e.syscall });
    Atomics.store(ctl, ${FAILED}, 1);
    Atomics.notify(ctl, ${WRITTEN});
    break;
  }
  k++;
  Atomics.store(ctl, ${WRITTEN}, k);
  Atomics.notify(ctl, ${WRITTEN});
}
`;
function writeError(m) {
  const e = new Error(m?.message ?? "the writer thread failed");
  if (m?.code) e.code = m.code;
  if (m?.errno !== void 0) e.errno = m.errno;
  if (m?.syscall) e.syscall = m.syscall;
  return e;
}
var yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));
var WriteThread = class {
  slots;
  slotSize;
  worker;
  ctl;
  meta;
  views;
  exited;
  hasExited = false;
  failure = null;
  published = 0;
  constructor(fd, slots, slotSize) {
    this.slots = slots;
    this.slotSize = slotSize;
    const data = new SharedArrayBuffer(slots * slotSize);
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
    this.meta = new Float64Array(new SharedArrayBuffer(8 * slots * META_PER_SLOT));
    this.views = [];
    for (let s = 0; s < slots; s++) this.views.push(new Uint8Array(data, s * slotSize, slotSize));
    this.worker = new Worker(WRITER_SOURCE, {
      eval: true,
      // the writer needs no loader (tsx) and no flags of this process
      execArgv: [],
      workerData: { data, ctl: this.ctl, meta: this.meta, fd, slots, slotSize, metaPerSlot: META_PER_SLOT }
    });
    this.worker.on("message", (m) => {
      this.failure ??= m;
    });
    this.exited = new Promise((resolve) => {
      const done = () => {
        this.hasExited = true;
        resolve();
      };
      this.worker.once("exit", done);
      this.worker.once("error", (e) => {
        this.failure ??= { message: `the writer thread failed: ${e.message}` };
      });
    });
  }
  /** Chunks written so far. */
  get written() {
    return Atomics.load(this.ctl, WRITTEN);
  }
  /**
   * The buffer of the next slot to fill, once the writer is done with it. Waits on this thread
   * (the writer is busy writing, so not for long), with a turn for the event loop now and then.
   */
  async nextSlot() {
    await this.waitWritten(this.published - this.slots + 1);
    return this.views[this.published % this.slots];
  }
  /** Hands the slot `nextSlot` gave to the writer: `writes` as [at, length, pos] triples. */
  publish(writes) {
    if (writes.length > MAX_WRITES_PER_SLOT) throw new RangeError("too many writes for one slot");
    const m = this.published % this.slots * META_PER_SLOT;
    this.meta[m] = writes.length;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i];
      this.meta[m + 1 + 3 * i] = w.at;
      this.meta[m + 2 + 3 * i] = w.length;
      this.meta[m + 3 + 3 * i] = w.out;
    }
    this.published++;
    Atomics.store(this.ctl, PUBLISHED, this.published);
    Atomics.notify(this.ctl, PUBLISHED);
  }
  /** Waits until every published slot is written, then ends the thread. */
  async finish() {
    await this.waitWritten(this.published);
    this.meta[this.published % this.slots * META_PER_SLOT] = -1;
    this.published++;
    Atomics.store(this.ctl, PUBLISHED, this.published);
    Atomics.notify(this.ctl, PUBLISHED);
    await this.exited;
    if (this.failure) throw writeError(this.failure);
  }
  /** Ends the thread after the write it is doing (if any); safe to call at any point. */
  async stop() {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, PUBLISHED);
    await this.exited;
  }
  async waitWritten(target) {
    while (Atomics.load(this.ctl, WRITTEN) < target) {
      if (Atomics.load(this.ctl, FAILED) !== 0 || this.hasExited) {
        await this.exited;
        throw writeError(this.failure);
      }
      const seen = Atomics.load(this.ctl, WRITTEN);
      if (seen >= target) break;
      if (Atomics.wait(this.ctl, WRITTEN, seen, 50) === "timed-out") await yieldToLoop();
    }
  }
};

// src/engine/copy.ts
function copyOpsFor(runs, outOf) {
  const ops = [];
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r];
    let out = outOf(run, r);
    for (const p of run.pieces) {
      const last = ops[ops.length - 1];
      if (last && last.file === p.file && last.position + last.length === p.position && last.out + last.length === out) {
        last.length += p.length;
      } else {
        ops.push({ file: p.file, position: p.position, length: p.length, out });
      }
      out += p.length;
    }
  }
  return ops;
}
var DEFAULT_CHUNK = 128 << 10;
function* chunksOf(ops, chunkSize, maxWrites = Infinity) {
  let c = { parts: [], writes: [], length: 0 };
  for (const op of ops) {
    let done = 0;
    while (done < op.length) {
      const out = op.out + done;
      let w = c.writes[c.writes.length - 1];
      const continues = w !== void 0 && w.out + w.length === out;
      if (c.length === chunkSize || !continues && c.writes.length === maxWrites) {
        yield c;
        c = { parts: [], writes: [], length: 0 };
        w = void 0;
      }
      const n = Math.min(op.length - done, chunkSize - c.length);
      c.parts.push({ file: op.file, position: op.position + done, length: n, at: c.length });
      if (w && w.out + w.length === out) w.length += n;
      else c.writes.push({ at: c.length, length: n, out });
      c.length += n;
      done += n;
    }
  }
  if (c.length > 0) yield c;
}
var MERGE_GAP = 32 * 1024;
var MERGE_MAX = 1 << 20;
var scratch = null;
function readSyncOrThrow(file, buf, at, len, pos) {
  try {
    return file.readSync(buf, at, len, pos);
  } catch (e) {
    throw new ExportError(`reading a pages file at offset ${pos}: ${e.message}`);
  }
}
function readChunkSync(c, buf) {
  const byFile = /* @__PURE__ */ new Map();
  for (const p of c.parts) {
    const l = byFile.get(p.file);
    if (l) l.push(p);
    else byFile.set(p.file, [p]);
  }
  let main = null;
  let mainBytes = 0;
  const groups = [];
  for (const [file, parts] of byFile) {
    parts.sort((a, b) => a.position - b.position);
    let bytes = 0;
    let i = 0;
    while (i < parts.length) {
      const first = parts[i];
      bytes += first.length;
      let end = first.position + first.length;
      let j = i + 1;
      while (j < parts.length) {
        const q = parts[j];
        if (q.position < end || q.position - end > MERGE_GAP || q.position + q.length - first.position > MERGE_MAX) {
          break;
        }
        end = q.position + q.length;
        bytes += q.length;
        j++;
      }
      groups.push({ file, parts, first: i, last: j - 1, length: end - first.position });
      i = j;
    }
    if (bytes > mainBytes) {
      mainBytes = bytes;
      main = file;
    }
  }
  let spanEnd = 0;
  const direct = /* @__PURE__ */ new Set();
  const inPlace = groups.filter((g) => g.file === main && g.last > g.first && laidOutAsInFile(g, buf.length)).sort((a, b) => a.parts[a.first].at - b.parts[b.first].at);
  for (const g of inPlace) {
    const at = g.parts[g.first].at;
    if (at < spanEnd) continue;
    direct.add(g);
    spanEnd = at + g.length;
  }
  for (const g of direct) {
    const first = g.parts[g.first];
    const n = readSyncOrThrow(g.file, buf, first.at, g.length, first.position);
    if (n < g.length) buf.fill(0, first.at + n, first.at + g.length);
  }
  for (const g of groups) {
    if (direct.has(g)) continue;
    const first = g.parts[g.first];
    if (g.last === g.first) {
      const n2 = readSyncOrThrow(g.file, buf, first.at, first.length, first.position);
      if (n2 < first.length) buf.fill(0, first.at + n2, first.at + first.length);
      continue;
    }
    if (g.file.readvSync && g.last - g.first < MAX_IOV_PARTS && readGroupv(g, buf)) continue;
    scratch ??= new Uint8Array(MERGE_MAX);
    const n = readSyncOrThrow(g.file, scratch, 0, g.length, first.position);
    if (n < g.length) scratch.fill(0, n, g.length);
    for (let k = g.first; k <= g.last; k++) {
      const p = g.parts[k];
      const off = p.position - first.position;
      buf.set(scratch.subarray(off, off + p.length), p.at);
    }
  }
}
var MAX_IOV_PARTS = 480;
var junk = null;
function readGroupv(g, buf) {
  junk ??= new Uint8Array(MERGE_GAP);
  const iov = [];
  let at = g.parts[g.first].position;
  for (let k = g.first; k <= g.last; k++) {
    const p = g.parts[k];
    if (p.position > at) iov.push(junk.subarray(0, p.position - at));
    iov.push(buf.subarray(p.at, p.at + p.length));
    at = p.position + p.length;
  }
  let n;
  try {
    n = g.file.readvSync(iov, g.parts[g.first].position);
  } catch (e) {
    throw new ExportError(
      `reading a pages file at offset ${g.parts[g.first].position}: ${e.message}`
    );
  }
  return n === g.length;
}
function laidOutAsInFile(g, bufLength) {
  const first = g.parts[g.first];
  if (first.at + g.length > bufLength) return false;
  for (let k = g.first + 1; k <= g.last; k++) {
    const p = g.parts[k];
    if (p.at - first.at !== p.position - first.position) return false;
  }
  return true;
}
async function readChunk(c, buf) {
  if (c.parts.every((p) => p.file.readSync)) {
    readChunkSync(c, buf);
    return;
  }
  await Promise.all(
    c.parts.map(async (p) => {
      let n;
      try {
        n = await p.file.read(buf, p.at, p.length, p.position);
      } catch (e) {
        throw new ExportError(`reading a pages file at offset ${p.position}: ${e.message}`);
      }
      if (n < p.length) buf.fill(0, p.at + n, p.at + p.length);
    })
  );
}
async function writeChunk(c, buf, out, expect) {
  for (const w of c.writes) await writeAt(out, buf, w.at, w.length, w.out, expect);
}
var yieldToLoop2 = () => new Promise((resolve) => setImmediate(resolve));
var THREADED_MIN = 32 << 20;
var THREAD_SLOTS = 8;
var FLUSH_EVERY = 64 << 20;
async function copyInto(out, ops, progress = noProgress, chunkSize = DEFAULT_CHUNK, expect = { next: 0 }, threadedMin = THREADED_MIN) {
  let total = 0;
  for (const op of ops) total += op.length;
  if (total === 0) return;
  const size = Math.min(Math.max(PAGE_SIZE, chunkSize), total);
  const bufs = [new Uint8Array(size)];
  let pending = null;
  let flushing = null;
  let flushedAt = 0;
  let done = 0;
  let k = 0;
  const afterWrite = (n) => {
    done += n;
    progress.update(done);
    if (out.fh && out.durable && !flushing && done - flushedAt >= FLUSH_EVERY && done < total) {
      flushedAt = done;
      flushing = out.fh.datasync().finally(() => {
        flushing = null;
      });
    }
  };
  const writeSync = out.writeSync?.bind(out);
  const localReads = ops.every((op) => op.file.readSync);
  if (out.fd !== void 0 && writeSync && localReads && total >= threadedMin) {
    const writer = new WriteThread(out.fd, THREAD_SLOTS, size);
    const lengths = new Float64Array(THREAD_SLOTS);
    let seen = 0;
    const advance = () => {
      const w = writer.written;
      let n = 0;
      for (; seen < w; seen++) n += lengths[seen % THREAD_SLOTS];
      if (n > 0) afterWrite(n);
    };
    let finished = false;
    try {
      let sinceYield = 0;
      for (const c of chunksOf(ops, size, MAX_WRITES_PER_SLOT)) {
        const buf = await writer.nextSlot();
        advance();
        readChunkSync(c, buf);
        lengths[k % THREAD_SLOTS] = c.length;
        writer.publish(c.writes);
        k++;
        if (++sinceYield === THREAD_SLOTS) {
          sinceYield = 0;
          await yieldToLoop2();
        }
      }
      await writer.finish();
      finished = true;
      advance();
      if (flushing) await flushing;
    } finally {
      if (!finished) await writer.stop();
      if (flushing) await flushing.catch(() => {
      });
    }
    return;
  }
  if (writeSync && localReads) {
    const buf = bufs[0];
    try {
      for (const c of chunksOf(ops, size)) {
        readChunkSync(c, buf);
        for (const w of c.writes) writeSync(buf, w.at, w.length, w.out);
        afterWrite(c.length);
        await yieldToLoop2();
      }
      if (flushing) await flushing;
    } finally {
      if (flushing) await flushing.catch(() => {
      });
    }
    return;
  }
  bufs.push(new Uint8Array(size));
  try {
    for (const c of chunksOf(ops, size)) {
      const buf = bufs[k++ & 1];
      await readChunk(c, buf);
      if (pending) await pending;
      pending = writeChunk(c, buf, out, expect).then(() => afterWrite(c.length));
    }
    if (pending) await pending;
    pending = null;
    if (flushing) await flushing;
  } finally {
    if (pending) await pending.catch(() => {
    });
    if (flushing) await flushing.catch(() => {
    });
  }
}

// src/engine/runs.ts
var NO_VMA = {
  start: 0,
  end: Number.MAX_SAFE_INTEGER,
  pgoff: 0,
  shmid: 0,
  prot: 3,
  flags: 0,
  status: 0,
  fd: -1
};
function planRuns(pm, window = {}) {
  const wStart = window.start ?? 0;
  const wEnd = window.end ?? Number.MAX_SAFE_INTEGER;
  const runs = [];
  const layers = /* @__PURE__ */ new Set();
  let bytes = 0;
  let lazyBytes = 0;
  const vmas = pm.vmas.length > 0 ? pm.vmas : [NO_VMA];
  for (const vma of vmas) {
    const lo = Math.max(vma.start, wStart);
    const hi = Math.min(vma.end, wEnd);
    if (lo >= hi) continue;
    const shm = pm.shared.get(vma);
    const mem = shm ?? pm.private;
    const delta = shm ? vma.start - vma.pgoff : 0;
    const x = mem.extents;
    const oLo = lo - delta;
    const oHi = hi - delta;
    let pieces = [];
    let runStart = -1;
    let runEnd = -1;
    const flush = () => {
      if (pieces.length > 0) {
        runs.push({ addr: runStart + delta, length: runEnd - runStart, vma, pieces });
        bytes += runEnd - runStart;
      }
      pieces = [];
      runStart = -1;
      runEnd = -1;
    };
    for (let i = findExtent(x, Math.floor(oLo / PAGE_SIZE)); i < x.count; i++) {
      const es = x.start[i] * PAGE_SIZE;
      if (es >= oHi) break;
      const s = Math.max(es, oLo);
      const e = Math.min(x.end[i] * PAGE_SIZE, oHi);
      if (e <= s) continue;
      const layer = x.layer[i];
      if (layer === LAZY) {
        lazyBytes += e - s;
        flush();
        continue;
      }
      if (runEnd !== s) flush();
      if (runStart < 0) runStart = s;
      const file = mem.files[layer];
      if (!file) {
        throw new ExportError(
          `${mem.layerNames[layer]}: no pages file for ${mem.resolved.file}, which places ${hex(s + delta)} there`
        );
      }
      pieces.push({ file, position: x.offset[i] + (s - es), length: e - s, layer });
      layers.add(layer);
      runEnd = e;
    }
    flush();
  }
  return { runs, bytes, layers, lazyBytes };
}

// src/ops/export-raw.ts
var MAX_RAW_SPAN = 64 * 1024 ** 3;
function rawWindow(pm, opts) {
  let start = opts.start;
  let end = opts.end;
  if (pm.vmas.length > 0) {
    start ??= pm.vmas[0].start;
    end ??= pm.vmas[pm.vmas.length - 1].end;
  } else {
    const x = pm.private.extents;
    start ??= x.count > 0 ? x.start[0] * PAGE_SIZE : 0;
    end ??= x.count > 0 ? x.end[x.count - 1] * PAGE_SIZE : start;
  }
  if (end < start) {
    throw new ExportError(`empty address window: end ${hex(end)} is below start ${hex(start)}`);
  }
  return { start, end };
}
async function exportRaw(stack, dest, opts = {}) {
  const t0 = performance.now();
  const pid = await stack.pickPid(opts.pid);
  const pm = await stack.process(pid);
  const { start, end } = rawWindow(pm, opts);
  const span = end - start;
  const maxSpan = opts.maxSpan ?? MAX_RAW_SPAN;
  if (span > maxSpan && !opts.force) {
    throw new ExportError(
      `${dest}: the raw span ${hex(start)}-${hex(end)} is ${formatBytes(span)}, more than ${formatBytes(maxSpan)}; the file would be sparse (holes take no space), but many file systems cap file sizes (ext4: 16 TiB) and copies that do not keep holes fill the disk`,
      "PAGESTACK_RAW_SPAN_TOO_LARGE",
      { file: dest, start, end, span, maxSpan }
    );
  }
  const plan = planRuns(pm, { start, end });
  const ops = copyOpsFor(plan.runs, (run) => run.addr - start);
  const progress = opts.progress ?? noProgress;
  progress.start(plan.bytes, basename(dest));
  try {
    await writeOutput(
      dest,
      async (out) => {
        if (!out.fh) {
          throw new ExportError(
            `${dest}: not a regular file; a raw export is a sparse file with holes: write it to a file`
          );
        }
        try {
          await out.fh.truncate(span);
        } catch (e) {
          if (e.code === "EFBIG" || e.code === "EINVAL") {
            throw new ExportError(
              `${dest}: the file system cannot hold a sparse file of ${formatBytes(span)} (${hex(start)}-${hex(end)})`,
              "PAGESTACK_FILE_TOO_LARGE",
              { file: dest, start, end }
            );
          }
          throw outputError(dest, e);
        }
        try {
          await copyInto(out, ops, progress, opts.chunkSize);
        } catch (e) {
          throw outputError(dest, e);
        }
      },
      { durable: opts.sync === true }
    );
  } finally {
    progress.finish();
  }
  return {
    format: "raw",
    pid,
    output: dest,
    segments: plan.runs.length,
    bytes: plan.bytes,
    pages: Math.ceil(plan.bytes / PAGE_SIZE),
    layersUsed: plan.layers.size,
    stackLayers: stack.layers.length,
    lazyBytes: plan.lazyBytes,
    fileSize: span,
    seconds: (performance.now() - t0) / 1e3,
    base: start
  };
}

export {
  noProgress,
  textProgressBar,
  copyOpsFor,
  copyInto,
  planRuns,
  MAX_RAW_SPAN,
  exportRaw
};
