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
/** Extents per block of the lookup index (see PagemapMemory.find). */
const BLOCK = 32;
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

  /** Extent of the last read, checked first: nearby reads skip the binary search. */
  private lastExtent = 0;

  /**
   * The end page of every BLOCK-th extent (the last of each block), built on the first lookup:
   * a binary search over all extents of a big process (400,000 of them: 3 MiB of `end`) misses the
   * CPU cache at most of its ~19 steps; searching this small index first (1/BLOCK of the size,
   * stays in cache) and then one block of BLOCK neighbours costs a few misses instead.
   */
  private blockEnds: Float64Array | null = null;

  /** findExtent(extents, page) through the block index. */
  private find(page: number): number {
    const x = this.resolved.extents;
    let be = this.blockEnds;
    if (be === null) {
      be = new Float64Array(Math.ceil(x.count / BLOCK));
      for (let b = 0; b < be.length; b++) be[b] = x.end[Math.min(x.count, (b + 1) * BLOCK) - 1]!;
      this.blockEnds = be;
    }
    let lo = 0;
    let hi = be.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (be[mid]! <= page) lo = mid + 1;
      else hi = mid;
    }
    if (lo === be.length) return x.count;
    // the first extent ending above `page` is in block `lo`
    const end = x.end;
    hi = Math.min(x.count, (lo + 1) * BLOCK);
    lo *= BLOCK;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (end[mid]! <= page) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The fast path: the extent index when [addr, addr+len) (len > 0) lies in one extent whose bytes
   * are in a pages file, else -1 (holes, lazy pages and reads across extents go through plan()).
   */
  private singleExtent(addr: number, len: number): number {
    const x = this.resolved.extents;
    const page = Math.floor(addr / PAGE_SIZE);
    let i = this.lastExtent;
    if (!(i < x.count && x.start[i]! <= page && page < x.end[i]!)) {
      i = this.find(page);
      if (i >= x.count || !(x.start[i]! <= page)) return -1;
      this.lastExtent = i;
    }
    if (!(len > 0) || x.layer[i]! === LAZY || addr + len > x.end[i]! * PAGE_SIZE) return -1;
    return i;
  }

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
    const i = this.singleExtent(addr, len);
    if (i >= 0) {
      const x = this.resolved.extents;
      await readPiece(this.files[x.layer[i]!]!, out, 0, len, x.offset[i]! + (addr - x.start[i]! * PAGE_SIZE));
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

  readManySync(addrs: ArrayLike<number>, len: number, opts: ReadManyOptions = {}): Uint8Array {
    const out = batchOut(addrs.length, len, opts);
    fillPiecesBatchedSync(out, this.planMany(addrs, len, opts));
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
    const i = this.singleExtent(addr, len);
    if (i >= 0) {
      const x = this.resolved.extents;
      readPieceSync(this.files[x.layer[i]!]!, out, 0, len, x.offset[i]! + (addr - x.start[i]! * PAGE_SIZE));
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
