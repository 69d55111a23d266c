/**
 * Reading bytes of one resolved pagemap. A read of any alignment and length is split at extent
 * boundaries only: a run of neighbouring pages held by one layer is one positioned read.
 */

import { MemoryAccessError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { type Extents, LAZY, type ResolvedPagemap } from './resolve.js';
import type { RandomAccessFile } from './source.js';

/**
 * Result buffers of small reads are cut from a shared slab (as Buffer.allocUnsafe's pool does):
 * a fresh `new Uint8Array(4096)` (zeroed, its own ArrayBuffer for the GC to track) costs about as
 * much as the read itself. Each result has its own bytes, but `.buffer` may be shared with other
 * results (and keep up to SLAB_SIZE bytes alive): use byteOffset and byteLength with it, and do
 * not transfer it. Hot loops can avoid allocating at all with readInto / readIntoSync.
 */
const SLAB_SIZE = 64 * 1024;
const SLAB_MAX = 16 * 1024;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

/** An uninitialised ArrayBuffer where the platform has one (Node's Buffer), else a zeroed one. */
const newSlab: (size: number) => ArrayBuffer = (() => {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  return B ? (n) => B.allocUnsafeSlow(n).buffer as ArrayBuffer : (n) => new ArrayBuffer(n);
})();

/**
 * `len` bytes, NOT zeroed when small: only for callers that write every byte (a planned read
 * does: its pieces cover the whole range, and short reads and holes are filled with zeros).
 */
export function allocUninit(len: number): Uint8Array {
  // V8 keeps typed arrays of <= 64 bytes on its heap: allocating those is cheap already
  if (len <= 64 || len > SLAB_MAX || (len | 0) !== len) return new Uint8Array(len);
  if (slabUsed + len > slab.byteLength) {
    slab = newSlab(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, len);
  slabUsed += (len + 7) & ~7; // keep results 8-byte aligned for wider views
  return out;
}

export interface ReadOptions {
  /** Read pages that are not dumped or lazy as zeros instead of failing. */
  zero?: boolean;
}

/** A piece of a read: bytes from a layer's pages file, or zeros. */
interface Piece {
  /** Offset within the destination. */
  at: number;
  length: number;
  /** null: zeros. */
  file: RandomAccessFile | null;
  position: number;
}

export class PagemapMemory {
  readonly resolved: ResolvedPagemap;
  /** Per layer, the pages file of this pagemap (null where the layer holds none of its pages). */
  readonly files: readonly (RandomAccessFile | null)[];
  readonly layerNames: readonly string[];

  constructor(
    resolved: ResolvedPagemap,
    files: readonly (RandomAccessFile | null)[],
    layerNames: readonly string[],
  ) {
    this.resolved = resolved;
    this.files = files;
    this.layerNames = layerNames;
  }

  get extents(): Extents {
    return this.resolved.extents;
  }

  /** Extent of the last read, checked first: nearby reads skip the search. */
  private lastExtent = 0;

  /**
   * The lookup index, built on the first read (see buildIndex): per bucket of 2^bucketBits pages,
   * the first extent ending above its first page; per extent its [start, end, offset, layer].
   */
  private records: Float64Array | null = null;
  private buckets: Int32Array | null = null;
  private bucketBase = 0;
  private bucketPages = 1;

  /**
   * A random read of a big process (400,000 extents: 3 MiB per column) missed the CPU cache (and,
   * in a VM, the TLB) at most steps of a binary search and then once more in each of the start,
   * layer and offset columns. The index narrows the search by the page number first: the pages
   * from the first extent's start to the last one's end are cut into buckets of a power-of-two
   * pages, at most 2 per extent, each knowing the first extent that ends above its start; a page's
   * extent is then between its bucket's and the next bucket's (one cache line: usually 0-2
   * candidates, in a dense process), searched in the records, where the found extent's fields are.
   * A sparse address space gets wide buckets and the search within them is a binary search, never
   * worse than one over all extents. Costs 32 + up to 8 bytes per extent, only once something is
   * read.
   */
  private buildIndex(): Int32Array {
    const x = this.resolved.extents;
    const n = x.count;
    const rec = new Float64Array(n * 4);
    for (let i = 0; i < n; i++) {
      rec[4 * i] = x.start[i]!;
      rec[4 * i + 1] = x.end[i]!;
      rec[4 * i + 2] = x.offset[i]!;
      rec[4 * i + 3] = x.layer[i]!;
    }
    const base = n > 0 ? x.start[0]! : 0;
    const span = n > 0 ? x.end[n - 1]! - base : 0;
    let per = 1;
    while (span / per > 2 * n + 1) per *= 2;
    const nb = Math.floor(span / per) + 1;
    const buckets = new Int32Array(nb + 1);
    let i = 0;
    for (let b = 0; b <= nb; b++) {
      const first = base + b * per;
      while (i < n && x.end[i]! <= first) i++;
      buckets[b] = i;
    }
    this.records = rec;
    this.bucketBase = base;
    this.bucketPages = per;
    this.buckets = buckets;
    return buckets;
  }

  /** findExtent(extents, page) (the first extent ending above `page`) through the index. */
  private find(page: number): number {
    const buckets = this.buckets ?? this.buildIndex();
    const rec = this.records!;
    const rel = page - this.bucketBase;
    if (rel < 0) return 0;
    const b = Math.floor(rel / this.bucketPages);
    if (b >= buckets.length - 1) return this.resolved.extents.count;
    let lo = buckets[b]!;
    let hi = buckets[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rec[4 * mid + 1]! <= page) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The fast path: the byte position in its layer's pages file of [addr, addr+len) (len > 0) when
   * that lies in one extent whose bytes are in a pages file, its layer in `hitLayer`; else -1
   * (holes, lazy pages and reads across extents go through plan()).
   */
  private singleExtent(addr: number, len: number): number {
    const page = Math.floor(addr / PAGE_SIZE);
    let rec = this.records;
    let i = this.lastExtent;
    if (!(rec !== null && 4 * i < rec.length && rec[4 * i]! <= page && page < rec[4 * i + 1]!)) {
      i = this.find(page);
      rec = this.records!;
      if (4 * i >= rec.length || !(rec[4 * i]! <= page)) return -1;
      this.lastExtent = i;
    }
    const layer = rec[4 * i + 3]!;
    if (!(len > 0) || layer === LAZY || addr + len > rec[4 * i + 1]! * PAGE_SIZE) return -1;
    this.hitLayer = layer;
    return rec[4 * i + 2]! + (addr - rec[4 * i]! * PAGE_SIZE);
  }

  /** The layer of singleExtent's last hit. */
  private hitLayer = 0;

  /** readManySync's per-read layer and position, reused from batch to batch. */
  private batchLayer = new Int32Array(0);
  private batchPos = new Float64Array(0);

  /** Splits [addr, addr+len) into pieces; throws MemoryAccessError for holes unless opts.zero. */
  private plan(addr: number, len: number, zero: boolean, pieces: Piece[], base: number): void {
    const x = this.resolved.extents;
    const endAddr = addr + len;
    let cur = addr;
    let i = this.find(Math.floor(addr / PAGE_SIZE));
    while (cur < endAddr) {
      const es = i < x.count ? x.start[i]! * PAGE_SIZE : Number.POSITIVE_INFINITY;
      if (es > cur) {
        const stop = Math.min(endAddr, es);
        if (!zero) {
          throw new MemoryAccessError(
            'not-dumped',
            cur,
            `${hex(cur)}: not dumped (no pagemap entry in ${this.resolved.file})`,
          );
        }
        pieces.push({ at: base + cur - addr, length: stop - cur, file: null, position: 0 });
        cur = stop;
        continue;
      }
      const ee = x.end[i]! * PAGE_SIZE;
      const stop = Math.min(endAddr, ee);
      const layer = x.layer[i]!;
      if (layer === LAZY) {
        if (!zero) {
          throw new MemoryAccessError(
            'lazy',
            cur,
            `${hex(cur)}: lazy page (PE_LAZY in ${this.resolved.file}): its bytes are with the page server, not in the images`,
          );
        }
        pieces.push({ at: base + cur - addr, length: stop - cur, file: null, position: 0 });
      } else {
        pieces.push({
          at: base + cur - addr,
          length: stop - cur,
          file: this.files[layer]!,
          position: x.offset[i]! + (cur - es),
        });
      }
      cur = stop;
      i++;
    }
  }

  /** Plans a read into `pieces` (appending), `base` being the destination offset of `addr`. */
  planRead(addr: number, len: number, opts: ReadOptions, pieces: Piece[], base = 0): void {
    this.plan(addr, len, opts.zero === true, pieces, base);
  }

  /**
   * Reads `len` bytes at `addr` into a new Uint8Array. Throws MemoryAccessError for bytes that are
   * not dumped or lazy unless opts.zero. Small results share their `.buffer` (see allocUninit).
   */
  async read(addr: number, len: number, opts: ReadOptions = {}): Promise<Uint8Array> {
    return this.readInto(allocUninit(len), addr, opts);
  }

  readSync(addr: number, len: number, opts: ReadOptions = {}): Uint8Array {
    return this.readIntoSync(allocUninit(len), addr, opts);
  }

  /** Reads `out.length` bytes at `addr` into `out` (no allocation); returns `out`. */
  async readInto(out: Uint8Array, addr: number, opts: ReadOptions = {}): Promise<Uint8Array> {
    const len = out.length;
    const pos = this.singleExtent(addr, len);
    if (pos >= 0) {
      await readPiece(this.files[this.hitLayer]!, out, 0, len, pos);
      return out;
    }
    const pieces: Piece[] = [];
    this.plan(addr, len, opts.zero === true, pieces, 0);
    await fillPieces(out, pieces);
    return out;
  }

  /**
   * Batch read: `len` bytes at each of `addrs`, read k at out[k*len, (k+1)*len). The reads of all
   * addresses are planned first (a hole or lazy page anywhere fails the whole batch before any
   * read, with the error a single read of that address gives), then read per layer file in file
   * order, neighbouring pieces coalesced, several reads in flight.
   */
  async readMany(addrs: ArrayLike<number>, len: number, opts: ReadManyOptions = {}): Promise<Uint8Array> {
    const out = batchOut(addrs.length, len, opts);
    await fillPiecesBatched(out, this.planMany(addrs, len, opts));
    return out;
  }

  /**
   * readMany, synchronously (local files). One planning pass: a read inside one extent (the common
   * case) is kept as (layer, file position) in two typed arrays, no objects; the others are planned
   * into pieces. Then the positions are sorted per layer file and reads within MERGE_GAP bytes of
   * each other become one positioned read scattered straight into `out` (readvSync: the gaps go to
   * a scratch buffer), the rest one read each, into `out` directly.
   */
  readManySync(addrs: ArrayLike<number>, len: number, opts: ReadManyOptions = {}): Uint8Array {
    const out = batchOut(addrs.length, len, opts);
    const n = addrs.length;
    if (this.batchLayer.length < n) {
      this.batchLayer = new Int32Array(n);
      this.batchPos = new Float64Array(n);
    }
    const layer = this.batchLayer;
    const pos = this.batchPos;
    const order: number[] = [];
    let pieces: Piece[] | null = null;
    const zero = opts.zero === true;
    let maxPos = 0;
    for (let k = 0; k < n; k++) {
      const p = this.singleExtent(addrs[k]!, len);
      // (integer positions only: the sort packs them into exact keys)
      if (p >= 0 && Number.isSafeInteger(p)) {
        layer[k] = this.hitLayer;
        pos[k] = p;
        if (p > maxPos) maxPos = p;
        order.push(k);
      } else {
        pieces ??= [];
        this.plan(addrs[k]!, len, zero, pieces, k * len);
      }
    }
    // everything is planned (a bad address has thrown): now read
    if (pieces) fillPiecesBatchedSync(out, pieces);
    sortByFilePosition(order, layer, pos, n, maxPos, this.files.length);
    readSortedSync(out, len, order, layer, pos, this.files);
    return out;
  }

  private planMany(addrs: ArrayLike<number>, len: number, opts: ReadOptions): Piece[] {
    const pieces: Piece[] = [];
    const zero = opts.zero === true;
    for (let k = 0; k < addrs.length; k++) this.plan(addrs[k]!, len, zero, pieces, k * len);
    return pieces;
  }

  readIntoSync(out: Uint8Array, addr: number, opts: ReadOptions = {}): Uint8Array {
    const len = out.length;
    const pos = this.singleExtent(addr, len);
    if (pos >= 0) {
      readPieceSync(this.files[this.hitLayer]!, out, 0, len, pos);
      return out;
    }
    const pieces: Piece[] = [];
    this.plan(addr, len, opts.zero === true, pieces, 0);
    fillPiecesSync(out, pieces);
    return out;
  }
}

export type { Piece };

/** Reads one piece into out[at..at+length); bytes past the end of the file read as zeros. */
async function readPiece(
  file: RandomAccessFile,
  out: Uint8Array,
  at: number,
  length: number,
  position: number,
): Promise<void> {
  const n = await file.read(out, at, length, position);
  if (n < length) out.fill(0, at + n, at + length);
}

function readPieceSync(
  file: RandomAccessFile,
  out: Uint8Array,
  at: number,
  length: number,
  position: number,
): void {
  if (!file.readSync) throw new Error('this source cannot be read synchronously; use read()');
  const n = file.readSync(out, at, length, position);
  if (n < length) out.fill(0, at + n, at + length);
}

/** Fills `out` from planned pieces (zeros where a piece has no file). */
export async function fillPieces(out: Uint8Array, pieces: readonly Piece[]): Promise<void> {
  for (const p of pieces) {
    if (p.file) await readPiece(p.file, out, p.at, p.length, p.position);
    else out.fill(0, p.at, p.at + p.length);
  }
}

export function fillPiecesSync(out: Uint8Array, pieces: readonly Piece[]): void {
  for (const p of pieces) {
    if (p.file) readPieceSync(p.file, out, p.at, p.length, p.position);
    else out.fill(0, p.at, p.at + p.length);
  }
}

/**
 * Batch reads: the pieces of many reads, sorted by file and position and coalesced into runs, each
 * run one positioned read (adjacent or overlapping pieces share one read; a run stays below
 * RUN_MAX bytes). Pieces further apart are not merged: reading the gap between them costs a copy
 * of it, and at 4 KiB a pread from the page cache is mostly that copy already (measured: merging
 * pieces up to 16 KiB apart made a batch in a 4 MiB window slower than single reads).
 *
 * An async batch over files that can also be read synchronously (local files) reads them
 * synchronously, SLICE runs at a time, giving the event loop a turn between slices: one async read
 * costs a thread-pool round trip (~15-20 us here) for a 4 KiB copy that takes ~1.5 us, and the
 * batch pays one round trip per slice instead. Other sources get up to READ_AHEAD reads in flight.
 */
const COALESCE_GAP = 0;
const RUN_MAX = 1024 * 1024;
const READ_AHEAD = 16;
const SLICE = 64;

/**
 * A turn for the event loop (I/O callbacks run before this resolves): setImmediate where there is
 * one (Node), else a timer (which may wait a millisecond or more).
 */
const defer: (f: () => void) => void =
  (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate ?? ((f) => setTimeout(f, 0));
const yieldToLoop = (): Promise<void> => new Promise((resolve) => defer(resolve));

/** Pieces sharing one read of `length` bytes at `position` of `file`. */
interface Run {
  file: RandomAccessFile;
  position: number;
  length: number;
  pieces: Piece[];
}

/** Fills the zero pieces of `pieces` and groups the others into runs. */
function planRuns(out: Uint8Array, pieces: readonly Piece[]): Run[] {
  const fileNo = new Map<RandomAccessFile, number>();
  const withFile: Piece[] = [];
  const keys: number[] = [];
  for (const p of pieces) {
    if (p.length === 0) continue;
    if (!p.file) {
      out.fill(0, p.at, p.at + p.length);
      continue;
    }
    let f = fileNo.get(p.file);
    if (f === undefined) {
      f = fileNo.size;
      fileNo.set(p.file, f);
    }
    withFile.push(p);
    keys.push(f);
  }
  const order = Array.from({ length: withFile.length }, (_, k) => k);
  order.sort((a, b) => keys[a]! - keys[b]! || withFile[a]!.position - withFile[b]!.position);
  const runs: Run[] = [];
  let run: Run | null = null;
  for (const k of order) {
    const p = withFile[k]!;
    const end = p.position + p.length;
    if (
      run &&
      run.file === p.file &&
      p.position <= run.position + run.length + COALESCE_GAP &&
      Math.max(end, run.position + run.length) - run.position <= RUN_MAX
    ) {
      run.length = Math.max(run.length, end - run.position);
      run.pieces.push(p);
    } else {
      run = { file: p.file!, position: p.position, length: p.length, pieces: [p] };
      runs.push(run);
    }
  }
  return runs;
}

/** Copies a run's pieces out of `scratch` (the run's bytes, `n` of them read; zeros past that). */
function scatter(out: Uint8Array, run: Run, scratch: Uint8Array, n: number): void {
  if (n < run.length) scratch.fill(0, n, run.length);
  for (const p of run.pieces) {
    const from = p.position - run.position;
    out.set(scratch.subarray(from, from + p.length), p.at);
  }
}

/** Fills `out` from the pieces of many reads, coalesced per file (see planRuns). */
export async function fillPiecesBatched(out: Uint8Array, pieces: readonly Piece[]): Promise<void> {
  const runs = planRuns(out, pieces);
  if (runs.every((r) => r.file.readSync !== undefined)) {
    const scratch = { buf: new Uint8Array(0) };
    for (let k = 0; k < runs.length; k += SLICE) {
      if (k > 0) await yieldToLoop();
      for (const run of runs.slice(k, k + SLICE)) readRunSync(out, run, scratch);
    }
    return;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    let scratch = new Uint8Array(0);
    while (next < runs.length) {
      const run = runs[next++]!;
      if (run.pieces.length === 1) {
        const p = run.pieces[0]!;
        await readPiece(run.file, out, p.at, p.length, p.position);
        continue;
      }
      if (scratch.length < run.length) scratch = new Uint8Array(Math.max(run.length, 64 * 1024));
      const n = await run.file.read(scratch, 0, run.length, run.position);
      scatter(out, run, scratch, n);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_AHEAD, runs.length) }, worker));
}

export function fillPiecesBatchedSync(out: Uint8Array, pieces: readonly Piece[]): void {
  const scratch = { buf: new Uint8Array(0) };
  for (const run of planRuns(out, pieces)) readRunSync(out, run, scratch);
}

/** Reads one run synchronously: straight into `out` when it is one piece, else via scratch. */
function readRunSync(out: Uint8Array, run: Run, scratch: { buf: Uint8Array }): void {
  if (run.pieces.length === 1) {
    const p = run.pieces[0]!;
    readPieceSync(run.file, out, p.at, p.length, p.position);
    return;
  }
  if (scratch.buf.length < run.length) scratch.buf = new Uint8Array(Math.max(run.length, 64 * 1024));
  if (!run.file.readSync) throw new Error('this source cannot be read synchronously; use readMany()');
  let n = 0;
  while (n < run.length) {
    const got = run.file.readSync(scratch.buf, n, run.length - n, run.position + n);
    if (got === 0) break;
    n += got;
  }
  scatter(out, run, scratch.buf, n);
}

/**
 * Reads this many bytes apart or closer in one file are one read in readManySync (the gap read
 * into scratch). 0: only reads that continue each other merge. Measured (CPU time, 256 reads in a
 * 4 MiB window, 1 GiB 8-layer stack): merging reads up to 8 KiB apart cut the preads to 0.64 per
 * address but was 0.84-0.93x the speed of single reads (the gap copy and the scattered read's
 * buffers cost what the syscall saved). Runs stay below RUN_MAX bytes and MAX_IOV buffers.
 */
const MERGE_GAP = 0;
const MAX_IOV = 512;

/**
 * Sorts `order` (indices < n) by (layer[k], pos[k]). When (layer, position, index) pack into one
 * exact double (layers * (maxPos + 1) * n < 2^53: a batch of 256 over 8 layers of 4 GiB needs
 * 2^43), by a numeric sort of the packed keys, several times faster than a comparator sort; else
 * with the comparator.
 */
function sortByFilePosition(
  order: number[],
  layer: Int32Array,
  pos: Float64Array,
  n: number,
  maxPos: number,
  layers: number,
): void {
  if (order.length < 2) return;
  const span = maxPos + 1;
  if (layers * span * n >= 2 ** 53) {
    order.sort((a, b) => layer[a]! - layer[b]! || pos[a]! - pos[b]!);
    return;
  }
  const keys = new Float64Array(order.length);
  for (let j = 0; j < order.length; j++) {
    const k = order[j]!;
    keys[j] = (layer[k]! * span + pos[k]!) * n + k;
  }
  keys.sort();
  for (let j = 0; j < keys.length; j++) order[j] = keys[j]! % n;
}

/**
 * Reads `len` bytes at pos[k] of files[layer[k]] into out[k*len...] for k in `order` (sorted by
 * layer, then position), merging neighbours into one scattered read where the file can.
 */
function readSortedSync(
  out: Uint8Array,
  len: number,
  order: readonly number[],
  layer: Int32Array,
  pos: Float64Array,
  files: readonly (RandomAccessFile | null)[],
): void {
  let scratch: Uint8Array | null = null;
  let a = 0;
  while (a < order.length) {
    const first = order[a]!;
    const file = files[layer[first]!]!;
    const start = pos[first]!;
    let end = start + len;
    let b = a + 1;
    if (file.readvSync) {
      while (b < order.length && b - a < MAX_IOV) {
        const k = order[b]!;
        const p = pos[k]!;
        if (layer[k] !== layer[first] || p < end || p - end > MERGE_GAP || p + len - start > RUN_MAX) break;
        end = p + len;
        b++;
      }
    }
    if (b === a + 1) {
      readPieceSync(file, out, first * len, len, start);
      a = b;
      continue;
    }
    const bufs: Uint8Array[] = [];
    let at = start;
    for (let j = a; j < b; j++) {
      const k = order[j]!;
      const gap = pos[k]! - at;
      if (gap > 0) {
        if (scratch === null || scratch.length < gap) scratch = new Uint8Array(Math.max(gap, MERGE_GAP));
        bufs.push(scratch.subarray(0, gap));
      }
      bufs.push(out.subarray(k * len, k * len + len));
      at = pos[k]! + len;
    }
    const got = file.readvSync!(bufs, start);
    if (got < end - start) {
      // short (the end of the file): each read on its own, zeros past the end
      for (let j = a; j < b; j++) readPieceSync(file, out, order[j]! * len, len, pos[order[j]!]!);
    }
    a = b;
  }
}

/** Options of a batch read. */
export interface ReadManyOptions extends ReadOptions {
  /** Where to put the bytes (at least addrs.length * len bytes); a new buffer by default. */
  out?: Uint8Array;
}

/** The destination of a batch read of `count` reads of `len` bytes. */
export function batchOut(count: number, len: number, opts: ReadManyOptions): Uint8Array {
  const total = count * len;
  if (!Number.isSafeInteger(total) || total < 0) {
    throw new RangeError(`readMany: ${count} reads of ${len} bytes is not a valid size`);
  }
  if (opts.out) {
    if (opts.out.length < total) {
      throw new RangeError(`readMany: out has ${opts.out.length} bytes, expected at least ${total}`);
    }
    return opts.out;
  }
  return new Uint8Array(total);
}
