/**
 * Reading bytes of one resolved pagemap. A read of any alignment and length is split at extent
 * boundaries only: a run of neighbouring pages held by one layer is one positioned read.
 */

import { MemoryAccessError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { type Extents, findExtent, LAZY, type ResolvedPagemap } from './resolve.js';
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

  /** Extent of the last read, checked first: nearby reads skip the binary search. */
  private lastExtent = 0;

  /**
   * The fast path: the extent index when [addr, addr+len) (len > 0) lies in one extent whose bytes
   * are in a pages file, else -1 (holes, lazy pages and reads across extents go through plan()).
   */
  private singleExtent(addr: number, len: number): number {
    const x = this.resolved.extents;
    const page = Math.floor(addr / PAGE_SIZE);
    let i = this.lastExtent;
    if (!(i < x.count && x.start[i]! <= page && page < x.end[i]!)) {
      i = findExtent(x, page);
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
    let i = findExtent(x, Math.floor(addr / PAGE_SIZE));
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
