/**
 * A process's address space: its VMAs (mm-<pid>.img), private memory from pagemap-<pid>.img and
 * shared memory read through to the shmem pagemap behind each shared VMA.
 *
 * Private over shared. A memfd or shared anonymous memory mapped MAP_PRIVATE (`rw-p`, CRIU
 * names it `/memfd:NAME (deleted)` or `/dev/zero (deleted)`; mm-<pid>.img status VMA_AREA_MEMFD |
 * VMA_FILE_PRIVATE) gets a private copy of each page the process writes. CRIU dumps such a VMA
 * twice over: should_dump_page (criu/mem.c) skips the pages still the file's (PME_FILE) and puts
 * the copied ones, anonymous now, in pagemap-<pid>.img; the object's own pages go once per object
 * to pagemap-shmem-<id>.img (dump_one_memfd_shmem in criu/shmem.c reads them through a mapping of
 * the memfd, never the process's copies). On restore, premap_private_vma maps the restored memfd
 * MAP_PRIVATE (its content put back by restore_memfd_shmem_content) and restore_priv_vma_content
 * then writes every pagemap-<pid>.img page of the VMA over it. So, page by page:
 *
 *     a page of such a VMA = pagemap-<pid>.img's page if that pagemap has the page (dumped or lazy),
 *                            else the shared object's page at (addr - vma.start + vma.pgoff)
 *
 *   VMA (MAP_PRIVATE memfd)   |s s P P s s s P s|      P: in pagemap-<pid>.img (the process's copy)
 *   pagemap-shmem-<id>.img    |o o o o o o o o o|      s: the object's page shows through
 *
 * A MAP_SHARED VMA has no private pages: every page is the object's (and a pagemap-<pid>.img entry
 * there is one CRIU refuses to restore, which `verify` reports). `sources` applies the rule, and
 * read, export, search, diff and the explorer's bytes go through it; `maps` (and the explorer's
 * map), which open no pages file, apply it with the same splitByExtents (resolve.ts).
 */

import { MemoryAccessError, StackError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { Message } from '../image/schema.js';
import {
  allocUninit,
  batchOut,
  fillPieces,
  fillPiecesBatched,
  fillPiecesBatchedSync,
  fillPiecesSync,
  type PagemapMemory,
  type Piece,
  type ReadManyOptions,
  type ReadOptions,
} from './memory.js';
import { splitByExtents } from './resolve.js';
import { partitionPoint } from './search.js';
import { vmaIsPrivate } from './vma.js';

export interface Vma {
  readonly start: number;
  readonly end: number;
  readonly pgoff: number;
  readonly shmid: number;
  readonly prot: number;
  readonly flags: number;
  readonly status: number;
  /** files.img id of the mapped file, or -1 for anonymous memory. */
  readonly fd: number;
}

function toNum(v: unknown, what: string, file: string): number {
  if (v === undefined) return 0;
  const n = typeof v === 'bigint' ? v : BigInt(v as number);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new StackError(
      `${file}: vma ${what} 0x${n.toString(16)} is beyond 2^53, which pagestack does not support`,
      'PAGESTACK_VMA_RANGE',
      { file },
    );
  }
  return Number(n);
}

export function vmaFromMessage(m: Message, file: string): Vma {
  return {
    start: toNum(m['start'], 'start', file),
    end: toNum(m['end'], 'end', file),
    pgoff: toNum(m['pgoff'], 'pgoff', file),
    shmid: toNum(m['shmid'], 'shmid', file),
    prot: toNum(m['prot'], 'prot', file),
    flags: toNum(m['flags'], 'flags', file),
    status: toNum(m['status'], 'status', file),
    fd: m['fd'] === undefined ? -1 : toNum(m['fd'], 'fd', file),
  };
}

/**
 * A part of a VMA read from one pagemap: process addresses [start, end) are bytes of `mem` at
 * `address - shift` (shift 0 for private memory; vma.start - vma.pgoff for the shared object).
 */
export interface VmaSource {
  readonly start: number;
  readonly end: number;
  readonly mem: PagemapMemory;
  readonly shift: number;
  /** True when the bytes come from the shared object behind the VMA. */
  readonly shared: boolean;
}

export class ProcessMemory {
  readonly pid: number;
  /** Sorted by start. */
  readonly vmas: readonly Vma[];
  /** Private memory: pagemap-<pid>.img through the stack. */
  readonly private: PagemapMemory;
  /** Shared VMAs -> their shmem memory (addresses there are offsets into the object). */
  readonly shared: ReadonlyMap<Vma, PagemapMemory>;

  constructor(
    pid: number,
    vmas: readonly Vma[],
    priv: PagemapMemory,
    shared: ReadonlyMap<Vma, PagemapMemory>,
  ) {
    this.pid = pid;
    this.vmas = [...vmas].sort((a, b) => a.start - b.start);
    this.private = priv;
    this.shared = shared;
    this.overlaid = new Set([...shared.keys()].filter(vmaIsPrivate));
  }

  /**
   * Shared VMAs mapped MAP_PRIVATE: their pages in pagemap-<pid>.img win over the shared object's
   * (the rule at the top of this file).
   */
  readonly overlaid: ReadonlySet<Vma>;

  /**
   * Where the bytes of [lo, hi) (within VMA `v`, default all of it) come from, in address order:
   * one source for a private or MAP_SHARED VMA, and for a shared object mapped MAP_PRIVATE the
   * process's own pages where its pagemap has them and the object's in between.
   */
  sources(v: Vma, lo = v.start, hi = v.end): VmaSource[] {
    const shm = this.shared.get(v);
    if (!shm) return [{ start: lo, end: hi, mem: this.private, shift: 0, shared: false }];
    const shift = v.start - v.pgoff;
    if (!this.overlaid.has(v)) return [{ start: lo, end: hi, mem: shm, shift, shared: true }];
    const out: VmaSource[] = [];
    const parts = splitByExtents(this.private.extents, Math.floor(lo / PAGE_SIZE), Math.ceil(hi / PAGE_SIZE));
    for (const p of parts) {
      const start = Math.max(lo, p.s * PAGE_SIZE);
      const end = Math.min(hi, p.e * PAGE_SIZE);
      if (end <= start) continue;
      out.push(
        p.held
          ? { start, end, mem: this.private, shift: 0, shared: false }
          : { start, end, mem: shm, shift, shared: true },
      );
    }
    return out;
  }

  /** Whether process address `addr` of VMA `v` reads the shared object (not a private copy). */
  readsShared(v: Vma, addr: number): boolean {
    return this.sources(v, addr, addr + 1)[0]?.shared ?? false;
  }

  /** Index of the first VMA ending above `addr` (vmas.length if none). */
  private vmaIndex(addr: number): number {
    return partitionPoint(0, this.vmas.length, (i) => this.vmas[i]!.end <= addr);
  }

  /** The VMA containing `addr`, or undefined. */
  vmaAt(addr: number): Vma | undefined {
    const v = this.vmas[this.vmaIndex(addr)];
    return v && v.start <= addr ? v : undefined;
  }

  /** VMA of the last read, checked first. */
  private lastVma: Vma | undefined;

  /**
   * The fast path: true when [addr, addr+len) is a valid range inside one private VMA (or the
   * process has no VMAs), so the read is the private pagemap's read exactly.
   */
  private privateOnly(addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) return false;
    if (this.vmas.length === 0) return true;
    let v = this.lastVma;
    if (!(v && v.start <= addr && addr < v.end)) {
      v = this.vmaAt(addr);
      if (!v) return false;
      this.lastVma = v;
    }
    return addr + len <= v.end && (this.shared.size === 0 || !this.shared.has(v));
  }

  /** Plans a read of [addr, addr+len) into `pieces` (appending), at out[base...]. */
  private plan(addr: number, len: number, opts: ReadOptions, pieces: Piece[] = [], base = 0): Piece[] {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new MemoryAccessError('unmapped', addr, `${hex(addr)}: invalid address or length`);
    }
    if (this.vmas.length === 0) {
      this.private.planRead(addr, len, opts, pieces, base);
      return pieces;
    }
    const end = addr + len;
    let cur = addr;
    while (cur < end) {
      const found = this.vmas[this.vmaIndex(cur)];
      const v = found && found.start <= cur ? found : undefined;
      if (!v) {
        // up to the next VMA (the first one ending above `cur` starts above it)
        const next = found;
        const stop = Math.min(end, next ? next.start : end);
        if (!opts.zero) {
          throw new MemoryAccessError(
            'unmapped',
            cur,
            `${hex(cur)}: unmapped (no VMA of process ${this.pid} covers it)`,
          );
        }
        pieces.push({ at: base + cur - addr, length: stop - cur, file: null, position: 0 });
        cur = stop;
        continue;
      }
      const stop = Math.min(end, v.end);
      for (const src of this.sources(v, cur, stop)) this.planSource(src, addr, opts, pieces, base);
      cur = stop;
    }
    return pieces;
  }

  /** Plans the bytes of one source (see `sources`), at out[base + src.start - addr ...]. */
  private planSource(src: VmaSource, addr: number, opts: ReadOptions, pieces: Piece[], base: number): void {
    const at = base + src.start - addr;
    if (!src.shared) {
      src.mem.planRead(src.start, src.end - src.start, opts, pieces, at);
      return;
    }
    // pgoff is a byte offset into the shared object (as in /proc/PID/maps)
    const objOff = src.start - src.shift;
    try {
      src.mem.planRead(objOff, src.end - src.start, opts, pieces, at);
    } catch (e) {
      if (e instanceof MemoryAccessError) {
        const where = e.address + src.shift;
        throw new MemoryAccessError(
          e.reason,
          where,
          `${hex(where)}: ${e.message.replace(/^0x[0-9a-f]+: /, '')} (shared memory, offset ${hex(e.address)})`,
        );
      }
      throw e;
    }
  }

  /**
   * Reads `len` bytes at `addr`. Throws MemoryAccessError (not dumped / lazy / unmapped) unless
   * opts.zero. Small results share their `.buffer` (see allocUninit in memory.ts).
   */
  async read(addr: number, len: number, opts: ReadOptions = {}): Promise<Uint8Array> {
    if (this.privateOnly(addr, len)) return this.private.read(addr, len, opts);
    const pieces = this.plan(addr, len, opts);
    const out = allocUninit(len);
    await fillPieces(out, pieces);
    return out;
  }

  readSync(addr: number, len: number, opts: ReadOptions = {}): Uint8Array {
    if (this.privateOnly(addr, len)) return this.private.readSync(addr, len, opts);
    const pieces = this.plan(addr, len, opts);
    const out = allocUninit(len);
    fillPiecesSync(out, pieces);
    return out;
  }

  /** Reads `out.length` bytes at `addr` into `out` (no allocation: for hot loops); returns `out`. */
  async readInto(out: Uint8Array, addr: number, opts: ReadOptions = {}): Promise<Uint8Array> {
    if (this.privateOnly(addr, out.length)) return this.private.readInto(out, addr, opts);
    await fillPieces(out, this.plan(addr, out.length, opts));
    return out;
  }

  /**
   * Batch read: `len` bytes at each of `addrs`, read k at out[k*len, (k+1)*len) (a new buffer, or
   * opts.out). All reads are planned first, so a failing address fails the batch before anything
   * is read, with the error its single read gives; then the bytes are read per layer file in file
   * order, neighbouring pieces coalesced into one read, several reads in flight.
   */
  async readMany(addrs: ArrayLike<number>, len: number, opts: ReadManyOptions = {}): Promise<Uint8Array> {
    const out = batchOut(addrs.length, len, opts);
    await fillPiecesBatched(out, this.planMany(addrs, len, opts));
    return out;
  }

  /** readMany, synchronously (local files). */
  readManySync(addrs: ArrayLike<number>, len: number, opts: ReadManyOptions = {}): Uint8Array {
    // all in private VMAs (the common case): the private pagemap's batch, planned without pieces
    let k = 0;
    while (k < addrs.length && this.privateOnly(addrs[k]!, len)) k++;
    if (k === addrs.length) return this.private.readManySync(addrs, len, opts);
    const out = batchOut(addrs.length, len, opts);
    fillPiecesBatchedSync(out, this.planMany(addrs, len, opts));
    return out;
  }

  private planMany(addrs: ArrayLike<number>, len: number, opts: ReadOptions): Piece[] {
    const pieces: Piece[] = [];
    for (let k = 0; k < addrs.length; k++) this.plan(addrs[k]!, len, opts, pieces, k * len);
    return pieces;
  }

  readIntoSync(out: Uint8Array, addr: number, opts: ReadOptions = {}): Uint8Array {
    if (this.privateOnly(addr, out.length)) return this.private.readIntoSync(out, addr, opts);
    fillPiecesSync(out, this.plan(addr, out.length, opts));
    return out;
  }
}
