import {
  SortedRanges
} from "./chunk-PBZ3FNF4.js";
import {
  LAZY,
  PAGE_SIZE,
  findExtent
} from "./chunk-NB7SHFDT.js";
import {
  partitionPoint
} from "./chunk-5LGPV2OV.js";
import {
  StackError
} from "./chunk-XLWXTOJZ.js";

// src/ops/diff.ts
var DIFF_CHUNK = 4 << 20;
var PageRanges = class extends SortedRanges {
  /** Pages pushed (the walk pushes each page once, so this is the pages the ranges cover). */
  pages = 0;
  /** Appends [s, e); s must not precede the previous start. Touching ranges merge. */
  push(s, e) {
    if (e <= s) return;
    this.pages += e - s;
    super.push(s, e);
  }
  /** As [startAddress, endAddress) pairs (exact: page * 4096 only shifts the exponent). */
  addresses() {
    return this.start.map((s, i) => [s * PAGE_SIZE, this.end[i] * PAGE_SIZE]);
  }
};
function splitByVma(s, e, vmas, kind, out) {
  let cur = s;
  let k = partitionPoint(0, vmas.length, (i) => vmas[i].end <= cur);
  while (cur < e) {
    const v = vmas[k];
    const inside = v !== void 0 && v.start <= cur;
    const stop = inside ? Math.min(e, v.end) : Math.min(e, v ? v.start : e);
    out.push({
      start: cur,
      end: stop,
      kind,
      pages: (stop - cur) / PAGE_SIZE,
      vma: inside ? v : null,
      outsideVmas: !inside && vmas.length > 0
    });
    if (inside) k++;
    cur = stop;
  }
}
function diffRows(d) {
  const rows = [];
  const add = (r, kind, vmas) => {
    for (const [s, e] of r.addresses()) splitByVma(s, e, vmas, kind, rows);
  };
  add(d.changed, "changed", d.vmasB);
  add(d.added, "added", d.vmasB);
  add(d.removed, "removed", d.vmasA);
  add(d.lazy, "lazy", d.vmasB);
  return rows.sort((x, y) => x.start - y.start);
}
async function layerKeys(stack, mem) {
  const keys = [];
  for (let l = 0; l < stack.layers.length; l++) {
    if (!mem.files[l]) {
      keys.push("");
      continue;
    }
    const cols = await stack.pagemapColumns(mem.resolved.file, l);
    keys.push(`${stack.layers[l].source.id}\0pages-${cols.pagesId}.img`);
  }
  return keys;
}
function pushExtents(out, mem, keys, lo, hi, at) {
  const x = mem.extents;
  for (let i = findExtent(x, lo); i < x.count && x.start[i] < hi; i++) {
    const s = Math.max(lo, x.start[i]);
    const e = Math.min(hi, x.end[i]);
    const layer = x.layer[i];
    if (layer === LAZY) {
      out.push({ s: at + (s - lo), e: at + (e - lo), file: null, key: "", off: 0 });
    } else {
      out.push({
        s: at + (s - lo),
        e: at + (e - lo),
        file: mem.files[layer],
        key: keys[layer],
        off: x.offset[i] + (s - x.start[i]) * PAGE_SIZE
      });
    }
  }
}
async function addressSpace(stack, pid) {
  const pm = await stack.process(pid);
  const segs = [];
  const privKeys = await layerKeys(stack, pm.private);
  const shared = pm.vmas.filter((v) => pm.shared.has(v));
  if (shared.length === 0) {
    pushExtents(segs, pm.private, privKeys, 0, Number.POSITIVE_INFINITY, 0);
    return { segs, vmas: pm.vmas };
  }
  let lo = 0;
  for (const v of shared) {
    const vs = Math.floor(v.start / PAGE_SIZE);
    if (vs > lo) pushExtents(segs, pm.private, privKeys, lo, vs, lo);
    lo = Math.max(lo, Math.ceil(v.end / PAGE_SIZE));
  }
  pushExtents(segs, pm.private, privKeys, lo, Number.POSITIVE_INFINITY, lo);
  for (const v of shared) {
    const mem = pm.shared.get(v);
    const keys = await layerKeys(stack, mem);
    const objLo = Math.floor(v.pgoff / PAGE_SIZE);
    const pages = Math.ceil((v.end - v.start) / PAGE_SIZE);
    pushExtents(segs, mem, keys, objLo, objLo + pages, Math.floor(v.start / PAGE_SIZE));
  }
  segs.sort((x, y) => x.s - y.s);
  return { segs, vmas: pm.vmas };
}
async function readPieces(buf, pieces, stats) {
  const reads = [];
  let at = 0;
  for (const p of pieces) {
    const last = reads[reads.length - 1];
    if (last && last.file === p.file && last.pos + last.len === p.pos && last.at + last.len === at) {
      last.len += p.len;
    } else reads.push({ file: p.file, pos: p.pos, at, len: p.len });
    at += p.len;
  }
  for (const r of reads) {
    const n = await r.file.read(buf, r.at, r.len, r.pos);
    if (n < r.len) buf.fill(0, r.at + n, r.at + r.len);
    stats.bytesRead += r.len;
    stats.reads++;
  }
}
function firstDiff(a, b, from, to) {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return i;
  return -1;
}
async function compareJobs(jobs, d, stats, chunk, bufA, bufB) {
  const maxPages = Math.max(1, Math.floor(chunk / PAGE_SIZE));
  let j = 0;
  let into = 0;
  while (j < jobs.length) {
    const batch = [];
    let pages = 0;
    while (j < jobs.length && pages < maxPages) {
      const job = jobs[j];
      const take = Math.min(job.n - into, maxPages - pages);
      batch.push({
        s: job.s + into,
        n: take,
        fa: job.fa,
        pa: job.pa + into * PAGE_SIZE,
        fb: job.fb,
        pb: job.pb + into * PAGE_SIZE
      });
      pages += take;
      into += take;
      if (into === job.n) {
        j++;
        into = 0;
      }
    }
    await Promise.all([
      readPieces(
        bufA,
        batch.map((x) => ({ file: x.fa, pos: x.pa, len: x.n * PAGE_SIZE })),
        stats
      ),
      readPieces(
        bufB,
        batch.map((x) => ({ file: x.fb, pos: x.pb, len: x.n * PAGE_SIZE })),
        stats
      )
    ]);
    stats.pagesCompared += pages;
    let at = 0;
    for (const x of batch) {
      const len = x.n * PAGE_SIZE;
      if (bufA.subarray(at, at + len).equals(bufB.subarray(at, at + len))) {
        d.equalPages += x.n;
      } else {
        for (let p = 0; p < x.n; p++) {
          const o = at + p * PAGE_SIZE;
          if (bufA.subarray(o, o + PAGE_SIZE).equals(bufB.subarray(o, o + PAGE_SIZE))) {
            d.equalPages++;
            continue;
          }
          d.changed.push(x.s + p, x.s + p + 1);
          if (d.firstDifferences) {
            d.firstDifferences.push((x.s + p) * PAGE_SIZE + firstDiff(bufA, bufB, o, o + PAGE_SIZE) - o);
          }
        }
      }
      at += len;
    }
  }
}
async function diffProcess(a, b, pid, opts = {}, stats = { bytesRead: 0, reads: 0, pagesCompared: 0, pagesSameSource: 0 }) {
  const [sa, sb] = await Promise.all([addressSpace(a, pid), addressSpace(b, pid)]);
  const d = {
    pid,
    changed: new PageRanges(),
    added: new PageRanges(),
    removed: new PageRanges(),
    lazy: new PageRanges(),
    equalPages: 0,
    firstDifferences: opts.bytes ? [] : null,
    vmasA: sa.vmas,
    vmasB: sb.vmas
  };
  const A = sa.segs;
  const B = sb.segs;
  const jobs = [];
  let i = 0;
  let j = 0;
  let pos = Number.NEGATIVE_INFINITY;
  while (i < A.length || j < B.length) {
    const x = A[i];
    const y = B[j];
    const xs = x ? Math.max(x.s, pos) : Number.POSITIVE_INFINITY;
    const ys = y ? Math.max(y.s, pos) : Number.POSITIVE_INFINITY;
    if (xs < ys) {
      const end = Math.min(x.e, ys);
      d.removed.push(xs, end);
      pos = end;
      if (end === x.e) i++;
    } else if (ys < xs) {
      const end = Math.min(y.e, xs);
      d.added.push(ys, end);
      pos = end;
      if (end === y.e) j++;
    } else {
      const end = Math.min(x.e, y.e);
      if (!x.file || !y.file) d.lazy.push(xs, end);
      else {
        const pa = x.off + (xs - x.s) * PAGE_SIZE;
        const pb = y.off + (xs - y.s) * PAGE_SIZE;
        if (x.key === y.key && pa === pb) {
          d.equalPages += end - xs;
          stats.pagesSameSource += end - xs;
        } else {
          jobs.push({ s: xs, n: end - xs, fa: x.file, pa, fb: y.file, pb });
        }
      }
      pos = end;
      if (end === x.e) i++;
      if (end === y.e) j++;
    }
  }
  if (jobs.length > 0) {
    const chunk = Math.max(PAGE_SIZE, opts.chunkSize ?? DIFF_CHUNK);
    const size = Math.floor(chunk / PAGE_SIZE) * PAGE_SIZE;
    await compareJobs(jobs, d, stats, chunk, Buffer.alloc(size), Buffer.alloc(size));
  }
  return d;
}
async function diffStacks(a, b, opts = {}) {
  const [pa, pb] = await Promise.all([a.processes(), b.processes()]);
  const inA = new Set(pa.map((p) => p.pid));
  const inB = new Set(pb.map((p) => p.pid));
  const both = pa.map((p) => p.pid).filter((p) => inB.has(p));
  const onlyInA = pa.map((p) => p.pid).filter((p) => !inB.has(p));
  const onlyInB = pb.map((p) => p.pid).filter((p) => !inA.has(p));
  let pids = both;
  if (opts.pid !== void 0) {
    if (!inA.has(opts.pid) || !inB.has(opts.pid)) {
      const where = !inA.has(opts.pid) && !inB.has(opts.pid) ? "either snapshot" : !inA.has(opts.pid) ? a.top.source.name : b.top.source.name;
      throw new StackError(
        `no process ${opts.pid} in ${where}; processes in both: ${both.length ? both.join(", ") : "none"}`,
        "PAGESTACK_NO_SUCH_PID",
        { pid: opts.pid }
      );
    }
    pids = [opts.pid];
  }
  const stats = { bytesRead: 0, reads: 0, pagesCompared: 0, pagesSameSource: 0 };
  const processes = [];
  for (const pid of pids) processes.push(await diffProcess(a, b, pid, opts, stats));
  return { a: a.top.source.name, b: b.top.source.name, processes, onlyInA, onlyInB, stats };
}
function diffToJson(r) {
  const ranges = (p) => p.addresses().map(([s, e]) => [`0x${s.toString(16)}`, `0x${e.toString(16)}`]);
  return {
    a: r.a,
    b: r.b,
    processes: r.processes.map((d) => ({
      pid: d.pid,
      changed: ranges(d.changed),
      added: ranges(d.added),
      removed: ranges(d.removed),
      lazy: ranges(d.lazy),
      equal_pages: d.equalPages,
      changed_pages: d.changed.pages,
      added_pages: d.added.pages,
      removed_pages: d.removed.pages,
      lazy_pages: d.lazy.pages,
      ...d.firstDifferences ? { first_differences: d.firstDifferences.map((x) => `0x${x.toString(16)}`) } : {}
    })),
    only_in_a: r.onlyInA,
    only_in_b: r.onlyInB
  };
}

export {
  diffRows,
  diffStacks,
  diffToJson
};
