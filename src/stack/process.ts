/**
 * A process's address space: its VMAs (mm-<pid>.img), private memory from pagemap-<pid>.img and
 * shared memory read through to the shmem pagemap behind each shared VMA.
 */

import { MemoryAccessError, StackError } from '../errors.js';
import { hex } from '../format.js';
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
import { partitionPoint } from './search.js';

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
      const shm = this.shared.get(v);
      if (shm) {
        // pgoff is a byte offset into the shared object (as in /proc/PID/maps)
        const objOff = cur - v.start + v.pgoff;
        try {
          shm.planRead(objOff, stop - cur, opts, pieces, base + cur - addr);
        } catch (e) {
          if (e instanceof MemoryAccessError) {
            const at = e.address - objOff + cur;
            throw new MemoryAccessError(
              e.reason,
              at,
              `${hex(at)}: ${e.message.replace(/^0x[0-9a-f]+: /, '')} (shared memory, offset ${hex(e.address)})`,
            );
          }
          throw e;
        }
      } else {
        this.private.planRead(cur, stop - cur, opts, pieces, base + cur - addr);
      }
      cur = stop;
    }
    return pieces;
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
