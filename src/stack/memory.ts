/**
 * Reading bytes of one resolved pagemap. A read of any alignment and length is split at extent
 * boundaries only: a run of neighbouring pages held by one layer is one positioned read.
 */
import { PAGE_SIZE } from '../image/pagemap.js';
import { hex, MemoryAccessError } from './errors.js';
import { type Extents, findExtent, LAZY, type ResolvedPagemap } from './resolve.js';
import type { RandomAccessFile } from './source.js';

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

  async read(addr: number, len: number, opts: ReadOptions = {}): Promise<Uint8Array> {
    const out = new Uint8Array(len);
    const pieces: Piece[] = [];
    this.plan(addr, len, opts.zero === true, pieces, 0);
    await fillPieces(out, pieces);
    return out;
  }

  readSync(addr: number, len: number, opts: ReadOptions = {}): Uint8Array {
    const out = new Uint8Array(len);
    const pieces: Piece[] = [];
    this.plan(addr, len, opts.zero === true, pieces, 0);
    fillPiecesSync(out, pieces);
    return out;
  }
}

export type { Piece };

export async function fillPieces(out: Uint8Array, pieces: readonly Piece[]): Promise<void> {
  for (const p of pieces) {
    if (!p.file) continue; // zeros: `out` is fresh
    const n = await p.file.read(out, p.at, p.length, p.position);
    if (n < p.length) out.fill(0, p.at + n, p.at + p.length);
  }
}

export function fillPiecesSync(out: Uint8Array, pieces: readonly Piece[]): void {
  for (const p of pieces) {
    if (!p.file) continue;
    if (!p.file.readSync) throw new Error('this source cannot be read synchronously; use read()');
    const n = p.file.readSync(out, p.at, p.length, p.position);
    if (n < p.length) out.fill(0, p.at + n, p.at + p.length);
  }
}
