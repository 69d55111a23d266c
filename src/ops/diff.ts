/**
 * Page-level differences between two snapshots: two layers of one stack, or two separate dumps.
 *
 * For each process in both pstrees, each snapshot's address space is flattened into sorted
 * segments: a run of pages and where its bytes are (a layer's pages file and offset), or lazy.
 * Private memory comes from pagemap-<pid>.img resolved through the stack; a shared VMA reads
 * through its shmem pagemap (pgoff = byte offset into the object), as ProcessMemory reads do.
 *
 * One merge walk over both lists sorts every page into:
 *   - removed: dumped in A only;  added: dumped in B only;
 *   - lazy: dumped in both but lazy on at least one side (the bytes are with a page server, so
 *     they cannot be compared: reported apart, never guessed);
 *   - equal without reading: both sides take the page from the very same place (same layer
 *     directory identity, LayerSource.id, same pages file, same offset), e.g. the PE_PARENT pages
 *     of series-stack/3 that resolve to the same layer as series-stack/2's;
 *   - otherwise compared byte for byte: equal or changed.
 * Comparisons are batched: up to `chunkSize` bytes a side per batch, and pieces that continue
 * each other in a file (neighbouring entries in the pages file) are one positioned read.
 */

import { noProgress, type ProgressReporter } from '../engine/progress.js';
import { StackError } from '../errors.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { PagemapMemory } from '../stack/memory.js';
import type { Vma } from '../stack/process.js';
import { SortedRanges } from '../stack/ranges.js';
import { findExtent, LAZY } from '../stack/resolve.js';
import { partitionPoint } from '../stack/search.js';
import type { RandomAccessFile } from '../stack/source.js';
import type { Stack } from '../stack/stack.js';

export const DIFF_CHUNK = 4 << 20;

/** Sorted, merged page ranges [start, end) in page numbers (address / 4096). */
export class PageRanges extends SortedRanges {
  /** Pages pushed (the walk pushes each page once, so this is the pages the ranges cover). */
  pages = 0;

  /** Appends [s, e); s must not precede the previous start. Touching ranges merge. */
  override push(s: number, e: number): void {
    if (e <= s) return;
    this.pages += e - s;
    super.push(s, e);
  }

  /** As [startAddress, endAddress) pairs (exact: page * 4096 only shifts the exponent). */
  addresses(): [number, number][] {
    return this.start.map((s, i) => [s * PAGE_SIZE, this.end[i]! * PAGE_SIZE]);
  }
}

export interface ProcessDiff {
  readonly pid: number;
  readonly changed: PageRanges;
  readonly added: PageRanges;
  readonly removed: PageRanges;
  readonly lazy: PageRanges;
  /** Pages in both snapshots with the same bytes (read and compared, or the same source). */
  equalPages: number;
  /** With `bytes`: the address of the first differing byte of each changed page, in order. */
  readonly firstDifferences: number[] | null;
  readonly vmasA: readonly Vma[];
  readonly vmasB: readonly Vma[];
}

export type DiffKind = 'changed' | 'added' | 'removed' | 'lazy';

/** One range of a process's differences, inside one VMA (or outside every VMA). */
export interface DiffRow {
  /** Addresses [start, end). */
  readonly start: number;
  readonly end: number;
  readonly kind: DiffKind;
  readonly pages: number;
  /** The VMA holding the range (B's; A's for removed pages), or null. */
  readonly vma: Vma | null;
  /** No VMA holds the range although the process has VMAs. */
  readonly outsideVmas: boolean;
}

/** Splits [s, e) (addresses) at the VMAs' boundaries, naming the VMA of each piece. */
function splitByVma(s: number, e: number, vmas: readonly Vma[], kind: DiffKind, out: DiffRow[]): void {
  let cur = s;
  let k = partitionPoint(0, vmas.length, (i) => vmas[i]!.end <= cur);
  while (cur < e) {
    const v = vmas[k];
    const inside = v !== undefined && v.start <= cur;
    const stop = inside ? Math.min(e, v.end) : Math.min(e, v ? v.start : e);
    out.push({
      start: cur,
      end: stop,
      kind,
      pages: (stop - cur) / PAGE_SIZE,
      vma: inside ? v : null,
      outsideVmas: !inside && vmas.length > 0,
    });
    if (inside) k++;
    cur = stop;
  }
}

/**
 * A process's differences as ranges in address order, split where VMAs begin and end: changed,
 * added and lazy pages by B's VMAs, removed pages by A's.
 */
export function diffRows(d: ProcessDiff): DiffRow[] {
  const rows: DiffRow[] = [];
  const add = (r: PageRanges, kind: DiffKind, vmas: readonly Vma[]): void => {
    for (const [s, e] of r.addresses()) splitByVma(s, e, vmas, kind, rows);
  };
  add(d.changed, 'changed', d.vmasB);
  add(d.added, 'added', d.vmasB);
  add(d.removed, 'removed', d.vmasA);
  add(d.lazy, 'lazy', d.vmasB);
  return rows.sort((x, y) => x.start - y.start);
}

/** A process's differences summed per VMA: what `diff` prints first. */
export interface VmaDiff {
  /** The VMA (B's; A's when only removed pages fall in it), or null for pages outside every VMA. */
  readonly vma: Vma | null;
  changed: number;
  added: number;
  removed: number;
  lazy: number;
  /** Ranges (diffRows) in this VMA. */
  ranges: number;
}

/** diffRows summed per VMA (VMAs of A and B with the same bounds are one), in address order. */
export function diffByVma(d: ProcessDiff): VmaDiff[] {
  const by = new Map<string, VmaDiff>();
  for (const r of diffRows(d)) {
    const key = r.vma ? `${r.vma.start}-${r.vma.end}` : 'none';
    let s = by.get(key);
    if (!s) {
      s = { vma: r.vma, changed: 0, added: 0, removed: 0, lazy: 0, ranges: 0 };
      by.set(key, s);
    }
    s[r.kind] += r.pages;
    s.ranges++;
  }
  return [...by.values()].sort((x, y) => (x.vma?.start ?? -1) - (y.vma?.start ?? -1));
}

/** True when the snapshots differ: pages changed, added or removed, or processes in one only. */
export function diffDiffers(r: DiffResult): boolean {
  return (
    r.onlyInA.length > 0 ||
    r.onlyInB.length > 0 ||
    r.processes.some((d) => d.changed.pages + d.added.pages + d.removed.pages > 0)
  );
}

export interface DiffStats {
  /** Bytes read from pages files (both sides). */
  bytesRead: number;
  /** Positioned reads issued. */
  reads: number;
  /** Pages compared byte for byte. */
  pagesCompared: number;
  /** Pages found equal without reading (same layer, same file, same offset). */
  pagesSameSource: number;
}

export interface DiffResult {
  readonly a: string;
  readonly b: string;
  readonly processes: readonly ProcessDiff[];
  /** Pids only in A's / only in B's pstree. */
  readonly onlyInA: readonly number[];
  readonly onlyInB: readonly number[];
  readonly stats: DiffStats;
}

export interface DiffOptions {
  /** Only this process (it must be in both snapshots). */
  pid?: number;
  /** Record the first differing byte of each changed page. */
  bytes?: boolean;
  /** Bytes per side per comparison batch (default 4 MiB). */
  chunkSize?: number;
  /** Progress per process, in bytes of pages compared byte for byte (of those to compare). */
  progress?: ProgressReporter;
}

/** A run of pages of an address space and where its bytes are. */
interface Segment {
  s: number;
  e: number;
  /** null: lazy. */
  file: RandomAccessFile | null;
  /** Identity of the pages file: `${layer source id}\0${pages file}`. */
  key: string;
  /** Byte offset of page `s` in the file. */
  off: number;
}

async function layerKeys(stack: Stack, mem: PagemapMemory): Promise<string[]> {
  const keys: string[] = [];
  for (let l = 0; l < stack.layers.length; l++) {
    if (!mem.files[l]) {
      keys.push('');
      continue;
    }
    const cols = await stack.pagemapColumns(mem.resolved.file, l);
    keys.push(`${stack.layers[l]!.source.id}\0pages-${cols!.pagesId}.img`);
  }
  return keys;
}

/** Appends mem's extents within object pages [lo, hi) as segments at address page `at + (p - lo)`. */
function pushExtents(
  out: Segment[],
  mem: PagemapMemory,
  keys: readonly string[],
  lo: number,
  hi: number,
  at: number,
): void {
  const x = mem.extents;
  for (let i = findExtent(x, lo); i < x.count && x.start[i]! < hi; i++) {
    const s = Math.max(lo, x.start[i]!);
    const e = Math.min(hi, x.end[i]!);
    const layer = x.layer[i]!;
    if (layer === LAZY) {
      out.push({ s: at + (s - lo), e: at + (e - lo), file: null, key: '', off: 0 });
    } else {
      out.push({
        s: at + (s - lo),
        e: at + (e - lo),
        file: mem.files[layer]!,
        key: keys[layer]!,
        off: x.offset[i]! + (s - x.start[i]!) * PAGE_SIZE,
      });
    }
  }
}

/** A process's dumped pages as sorted segments, private and shared. */
async function addressSpace(stack: Stack, pid: number): Promise<{ segs: Segment[]; vmas: readonly Vma[] }> {
  const pm = await stack.process(pid);
  const segs: Segment[] = [];
  const privKeys = await layerKeys(stack, pm.private);
  // VMAs whose every page is the shared object's (shared objects mapped MAP_PRIVATE keep the
  // process's own pages: those stay in the private pass, the object fills the rest)
  const shared = pm.vmas.filter((v) => pm.shared.has(v) && !pm.overlaid.has(v));
  if (pm.shared.size === 0) {
    pushExtents(segs, pm.private, privKeys, 0, Number.POSITIVE_INFINITY, 0);
    return { segs, vmas: pm.vmas };
  }
  // private memory outside the shared VMAs (a read of a shared VMA goes to its object only)
  let lo = 0;
  for (const v of shared) {
    const vs = Math.floor(v.start / PAGE_SIZE);
    if (vs > lo) pushExtents(segs, pm.private, privKeys, lo, vs, lo);
    lo = Math.max(lo, Math.ceil(v.end / PAGE_SIZE));
  }
  pushExtents(segs, pm.private, privKeys, lo, Number.POSITIVE_INFINITY, lo);
  const objKeys = new Map<PagemapMemory, string[]>();
  for (const v of pm.vmas) {
    if (!pm.shared.has(v)) continue;
    for (const src of pm.sources(v)) {
      if (!src.shared) continue;
      let keys = objKeys.get(src.mem);
      if (!keys) {
        keys = await layerKeys(stack, src.mem);
        objKeys.set(src.mem, keys);
      }
      const objLo = Math.floor((src.start - src.shift) / PAGE_SIZE);
      const pages = Math.ceil((src.end - src.start) / PAGE_SIZE);
      pushExtents(segs, src.mem, keys, objLo, objLo + pages, Math.floor(src.start / PAGE_SIZE));
    }
  }
  segs.sort((x, y) => x.s - y.s);
  return { segs, vmas: pm.vmas };
}

/** Pieces to compare: `n` pages at page `s`, A's bytes at (fa, pa), B's at (fb, pb). */
interface Job {
  s: number;
  n: number;
  fa: RandomAccessFile;
  pa: number;
  fb: RandomAccessFile;
  pb: number;
}

interface Read {
  file: RandomAccessFile;
  pos: number;
  at: number;
  len: number;
}

/** Positioned reads filling `buf` for pieces laid back to back, neighbours in a file coalesced. */
async function readPieces(
  buf: Uint8Array,
  pieces: readonly { file: RandomAccessFile; pos: number; len: number }[],
  stats: DiffStats,
): Promise<void> {
  const reads: Read[] = [];
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

function firstDiff(a: Uint8Array, b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return i;
  return -1;
}

async function compareJobs(
  jobs: readonly Job[],
  d: ProcessDiff,
  stats: DiffStats,
  chunk: number,
  bufA: Buffer,
  bufB: Buffer,
  onBatch: (pagesDone: number) => void = () => {},
): Promise<void> {
  let done = 0;
  const maxPages = Math.max(1, Math.floor(chunk / PAGE_SIZE));
  let j = 0;
  let into = 0; // pages of jobs[j] already done
  while (j < jobs.length) {
    // a batch of up to maxPages pages
    const batch: Job[] = [];
    let pages = 0;
    while (j < jobs.length && pages < maxPages) {
      const job = jobs[j]!;
      const take = Math.min(job.n - into, maxPages - pages);
      batch.push({
        s: job.s + into,
        n: take,
        fa: job.fa,
        pa: job.pa + into * PAGE_SIZE,
        fb: job.fb,
        pb: job.pb + into * PAGE_SIZE,
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
        stats,
      ),
      readPieces(
        bufB,
        batch.map((x) => ({ file: x.fb, pos: x.pb, len: x.n * PAGE_SIZE })),
        stats,
      ),
    ]);
    stats.pagesCompared += pages;
    done += pages;
    onBatch(done);
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

/** Diffs one process's memory between two stacks. */
export async function diffProcess(
  a: Stack,
  b: Stack,
  pid: number,
  opts: DiffOptions = {},
  stats: DiffStats = { bytesRead: 0, reads: 0, pagesCompared: 0, pagesSameSource: 0 },
): Promise<ProcessDiff> {
  const [sa, sb] = await Promise.all([addressSpace(a, pid), addressSpace(b, pid)]);
  const d: ProcessDiff = {
    pid,
    changed: new PageRanges(),
    added: new PageRanges(),
    removed: new PageRanges(),
    lazy: new PageRanges(),
    equalPages: 0,
    firstDifferences: opts.bytes ? [] : null,
    vmasA: sa.vmas,
    vmasB: sb.vmas,
  };
  const A = sa.segs;
  const B = sb.segs;
  const jobs: Job[] = [];
  let i = 0;
  let j = 0;
  let pos = Number.NEGATIVE_INFINITY;
  while (i < A.length || j < B.length) {
    const x = A[i];
    const y = B[j];
    const xs = x ? Math.max(x.s, pos) : Number.POSITIVE_INFINITY;
    const ys = y ? Math.max(y.s, pos) : Number.POSITIVE_INFINITY;
    if (xs < ys) {
      const end = Math.min(x!.e, ys);
      d.removed.push(xs, end);
      pos = end;
      if (end === x!.e) i++;
    } else if (ys < xs) {
      const end = Math.min(y!.e, xs);
      d.added.push(ys, end);
      pos = end;
      if (end === y!.e) j++;
    } else {
      const end = Math.min(x!.e, y!.e);
      if (!x!.file || !y!.file) d.lazy.push(xs, end);
      else {
        const pa = x!.off + (xs - x!.s) * PAGE_SIZE;
        const pb = y!.off + (xs - y!.s) * PAGE_SIZE;
        if (x!.key === y!.key && pa === pb) {
          d.equalPages += end - xs;
          stats.pagesSameSource += end - xs;
        } else {
          jobs.push({ s: xs, n: end - xs, fa: x!.file, pa, fb: y!.file, pb });
        }
      }
      pos = end;
      if (end === x!.e) i++;
      if (end === y!.e) j++;
    }
  }
  if (jobs.length > 0) {
    const chunk = Math.max(PAGE_SIZE, opts.chunkSize ?? DIFF_CHUNK);
    const size = Math.floor(chunk / PAGE_SIZE) * PAGE_SIZE;
    const progress = opts.progress ?? noProgress;
    progress.start(jobs.reduce((t, x) => t + x.n, 0) * PAGE_SIZE, `diff pid ${pid}`);
    try {
      await compareJobs(jobs, d, stats, chunk, Buffer.alloc(size), Buffer.alloc(size), (n) =>
        progress.update(n * PAGE_SIZE),
      );
    } finally {
      progress.finish();
    }
  }
  return d;
}

/** Diffs every process in both snapshots (or only `opts.pid`). */
export async function diffStacks(a: Stack, b: Stack, opts: DiffOptions = {}): Promise<DiffResult> {
  const [pa, pb] = await Promise.all([a.processes(), b.processes()]);
  const inA = new Set(pa.map((p) => p.pid));
  const inB = new Set(pb.map((p) => p.pid));
  const both = pa.map((p) => p.pid).filter((p) => inB.has(p));
  const onlyInA = pa.map((p) => p.pid).filter((p) => !inB.has(p));
  const onlyInB = pb.map((p) => p.pid).filter((p) => !inA.has(p));
  let pids = both;
  if (opts.pid !== undefined) {
    if (!inA.has(opts.pid) || !inB.has(opts.pid)) {
      const where =
        !inA.has(opts.pid) && !inB.has(opts.pid)
          ? 'either snapshot'
          : !inA.has(opts.pid)
            ? a.top.source.name
            : b.top.source.name;
      throw new StackError(
        `no process ${opts.pid} in ${where}; processes in both: ${both.length ? both.join(', ') : 'none'}`,
        'PAGESTACK_NO_SUCH_PID',
        { pid: opts.pid },
      );
    }
    pids = [opts.pid];
  }
  const stats: DiffStats = { bytesRead: 0, reads: 0, pagesCompared: 0, pagesSameSource: 0 };
  const processes: ProcessDiff[] = [];
  for (const pid of pids) processes.push(await diffProcess(a, b, pid, opts, stats));
  return { a: a.top.source.name, b: b.top.source.name, processes, onlyInA, onlyInB, stats };
}

/** The `--json` document. Addresses are "0x..." strings, ranges [start, end) merged. */
export function diffToJson(r: DiffResult): unknown {
  const ranges = (p: PageRanges): [string, string][] =>
    p.addresses().map(([s, e]) => [`0x${s.toString(16)}`, `0x${e.toString(16)}`]);
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
      vmas: diffByVma(d).map((v) => ({
        start: v.vma ? `0x${v.vma.start.toString(16)}` : null,
        end: v.vma ? `0x${v.vma.end.toString(16)}` : null,
        changed_pages: v.changed,
        added_pages: v.added,
        removed_pages: v.removed,
        lazy_pages: v.lazy,
      })),
      ...(d.firstDifferences
        ? { first_differences: d.firstDifferences.map((x) => `0x${x.toString(16)}`) }
        : {}),
    })),
    only_in_a: r.onlyInA,
    only_in_b: r.onlyInB,
    differ: diffDiffers(r),
  };
}
