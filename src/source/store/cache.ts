/**
 * Frames in memory: a bounded LRU of whole, verified frames, with concurrent fetches of one frame
 * coalesced into one GET, and a file over slices of frames (a stored pages file) that prefetches
 * the next frames in parallel when it is read sequentially.
 */

import { partitionPoint } from '../../stack/search.js';
import type { RandomAccessFile } from '../../stack/source.js';
import type { FrameRef } from '../../store/layout.js';
import type { BlobStore } from '../../store/port.js';

/** Default bound of the frame cache: 64 MiB (about 128 average frames). */
export const FRAME_CACHE_BYTES = 64 << 20;
/**
 * Frames fetched ahead of a sequential reader: 8 of ~0.5 MiB (a pull of 256 MiB: 0.72x the SDK's
 * 16 parallel 2 MiB GETs with 8, 0.50x with 24, both on loopback Swift at load 14-22).
 */
export const PREFETCH_FRAMES = 8;

export interface CacheStats {
  hits: number;
  misses: number;
  bytesFetched: number;
}

export class FrameCache {
  private readonly done = new Map<string, Uint8Array>();
  private readonly pending = new Map<string, Promise<Uint8Array>>();
  private bytes = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, bytesFetched: 0 };

  constructor(
    readonly blobs: BlobStore,
    readonly maxBytes = FRAME_CACHE_BYTES,
  ) {}

  /** A whole frame, checked against its hash (fetched once however many ask at the same time). */
  get(hash: string, size: number, where: string): Promise<Uint8Array> {
    const hit = this.done.get(hash);
    if (hit) {
      this.stats.hits++;
      this.done.delete(hash);
      this.done.set(hash, hit);
      return Promise.resolve(hit);
    }
    let p = this.pending.get(hash);
    if (p) {
      this.stats.hits++;
      return p;
    }
    this.stats.misses++;
    p = this.blobs.getBlob(hash, { size, where }).then(
      (b) => {
        this.pending.delete(hash);
        this.stats.bytesFetched += b.length;
        this.insert(hash, b);
        return b;
      },
      (e: unknown) => {
        this.pending.delete(hash);
        throw e;
      },
    );
    this.pending.set(hash, p);
    return p;
  }

  /** Starts fetching a frame in the background (a failure shows when it is read). */
  prefetch(hash: string, size: number, where: string): void {
    if (this.done.has(hash) || this.pending.has(hash)) return;
    this.get(hash, size, where).catch(() => undefined);
    this.stats.misses--; // counted when read
  }

  private insert(hash: string, b: Uint8Array): void {
    if (b.length > this.maxBytes) return;
    this.done.set(hash, b);
    this.bytes += b.length;
    for (const [k, v] of this.done) {
      if (this.bytes <= this.maxBytes) break;
      this.done.delete(k);
      this.bytes -= v.length;
    }
  }
}

/** A file made of slices of frames: [frame index, offset, length] triples over `frames`. */
export class SlicedFile implements RandomAccessFile {
  readonly size: number;
  private readonly starts: Float64Array;
  private lastEnd = -1;

  constructor(
    private readonly cache: FrameCache,
    private readonly frames: readonly FrameRef[],
    private readonly slices: readonly number[],
    private readonly where: string,
  ) {
    const n = slices.length / 3;
    this.starts = new Float64Array(n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      this.starts[i] = at;
      at += slices[i * 3 + 2]!;
    }
    this.size = at;
  }

  private frame(i: number): Promise<Uint8Array> {
    const [h, s] = this.frames[this.slices[i * 3]!]!;
    return this.cache.get(h, s, this.where);
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const end = Math.min(this.size, position + Math.max(0, length));
    if (position >= end) return 0;
    const n = this.starts.length;
    let s = partitionPoint(0, n, (k) => this.starts[k]! <= position) - 1;
    const sequential = position === this.lastEnd;
    this.lastEnd = end;
    // every slice the read needs, fetched at once; then the next ones for a sequential reader
    let last = s;
    while (last + 1 < n && this.starts[last + 1]! < end) last++;
    const parts: Promise<Uint8Array>[] = [];
    for (let i = s; i <= last; i++) {
      const p = this.frame(i);
      p.catch(() => undefined); // awaited below in order; a later one failing first is not unhandled
      parts.push(p);
    }
    if (sequential) {
      for (let i = last + 1; i < Math.min(n, last + 1 + PREFETCH_FRAMES); i++) {
        const [h, sz] = this.frames[this.slices[i * 3]!]!;
        this.cache.prefetch(h, sz, this.where);
      }
    }
    let pos = position;
    for (const p of parts) {
      const fr = await p;
      const inSlice = pos - this.starts[s]!;
      const sliceLen = this.slices[s * 3 + 2]!;
      const take = Math.min(sliceLen - inSlice, end - pos);
      const from = this.slices[s * 3 + 1]! + inSlice;
      buf.set(fr.subarray(from, from + take), offset + (pos - position));
      pos += take;
      s++;
    }
    return end - position;
  }

  async close(): Promise<void> {}
}

/** A small file held in memory. */
export class BytesFile implements RandomAccessFile {
  readonly size: number;
  constructor(private readonly data: Uint8Array) {
    this.size = data.length;
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    const n = Math.max(0, Math.min(length, this.size - position));
    buf.set(this.data.subarray(position, position + n), offset);
    return n;
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.readSync(buf, offset, length, position);
  }
  async close(): Promise<void> {}
}
