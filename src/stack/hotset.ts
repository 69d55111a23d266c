/**
 * Hot sets: the pages a lazily restored process asked for first, in order, kept beside the layer
 * so that the next lazy restore of that layer can fetch them before CRIU asks (REAP's idea:
 * record the working set of a restore, prefetch it the next time).
 *
 * `restore --lazy` records every GET the lazy-pages daemon sends in the first seconds of the
 * restore (`--record-seconds`). A GET of one page is a fault: the process touched that page and
 * waited for it (CRIU's daemon asks for exactly the faulting page; its background transfer asks
 * for 16 pages and more, fewer only at the end of a pagemap entry or VMA, PAGESERVER.md 5.3). The
 * next restore prefetches the fault runs; background runs are kept for the record only.
 *
 * The file (a local stack: `.pagestack-hotset` in the layer directory: CRIU never opens it, and
 * pagestack's directory listing leaves it out, so squash, delta and verify do not see it),
 * little endian:
 *
 *   offset  size
 *        0     8  magic "PSHOTSET"
 *        8     4  u32 version (1)
 *       12     4  u32 record window in ms
 *       16     4  u32 n, the number of runs
 *       20     4  u32 0 (reserved)
 *       24  24*n  runs, in the order they were asked for:
 *                   +0  u32 pid (the pagemap's, as CRIU's GET names it)
 *                   +4  u32 pages
 *                   +8  u64 vaddr (page aligned, below 2^53)
 *                  +16  u32 ms since the restore started
 *                  +20  u8  kind: 1 fault, 2 background
 *                  +21  3   zero
 *   24+24n     4  u32 CRC-32 (IEEE, as zlib) of every byte before it
 *
 * A hot set is a hint: a run the stack does not hold is skipped when prefetching, never an error.
 * No Node APIs here (the codec is shared with the object store and the browser).
 */
import { ImageFormatError } from '../errors.js';

export const HOTSET_FILE = '.pagestack-hotset';
const MAGIC = 'PSHOTSET';
const VERSION = 1;
const HEAD = 24;
const RUN = 24;
/** A hot set of more runs than this is refused (24 MiB): a restore asks for far fewer. */
export const HOTSET_MAX_RUNS = 1 << 20;

export type HotRunKind = 'fault' | 'background';

export interface HotRun {
  pid: number;
  vaddr: number;
  pages: number;
  /** ms since the restore started. */
  ms: number;
  kind: HotRunKind;
}

export interface HotSet {
  /** How long the restore recorded, in ms. */
  windowMs: number;
  runs: HotRun[];
}

/**
 * A layer source that keeps a hot set beside its layer itself (the object store: a side object of
 * the layer's manifest). Local directories hold HOTSET_FILE instead.
 */
export interface HotSetHolder {
  readHotSet(): Promise<Uint8Array | null>;
  /** Stores the encoded hot set; returns where it went, for messages. */
  writeHotSet(bytes: Uint8Array): Promise<string>;
}

export function holdsHotSets(s: object): s is HotSetHolder {
  const h = s as Partial<HotSetHolder>;
  return typeof h.readHotSet === 'function' && typeof h.writeHotSet === 'function';
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
export function crc32(bytes: Uint8Array, end = bytes.length): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < end; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`hot set: ${what} ${v} is not a u32`);
  return v;
}

export function encodeHotSet(h: HotSet): Uint8Array {
  if (h.runs.length > HOTSET_MAX_RUNS)
    throw new RangeError(`hot set: ${h.runs.length} runs (at most ${HOTSET_MAX_RUNS})`);
  const out = new Uint8Array(HEAD + RUN * h.runs.length + 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, u32(Math.round(h.windowMs), 'window'), true);
  dv.setUint32(16, h.runs.length, true);
  let o = HEAD;
  for (const r of h.runs) {
    if (!Number.isSafeInteger(r.vaddr) || r.vaddr < 0 || r.vaddr % 4096 !== 0)
      throw new RangeError(`hot set: vaddr ${r.vaddr} is not a page address`);
    dv.setUint32(o, u32(r.pid, 'pid'), true);
    dv.setUint32(o + 4, u32(r.pages, 'pages'), true);
    dv.setBigUint64(o + 8, BigInt(r.vaddr), true);
    dv.setUint32(o + 16, u32(Math.round(r.ms), 'ms'), true);
    out[o + 20] = r.kind === 'fault' ? 1 : 2;
    o += RUN;
  }
  dv.setUint32(o, crc32(out, o), true);
  return out;
}

/** Decodes a hot set; `file` names it in errors (`<file>: offset N: what was expected`). */
export function decodeHotSet(bytes: Uint8Array, file = HOTSET_FILE): HotSet {
  const bad = (offset: number, what: string) => new ImageFormatError(what, offset, file, 'PAGESTACK_HOTSET');
  if (bytes.length < HEAD + 4)
    throw bad(0, `${bytes.length} bytes: too short for a hot set (at least ${HEAD + 4})`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i)) throw bad(0, `expected the magic "${MAGIC}"`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== VERSION) throw bad(8, `version ${version}: expected ${VERSION}`);
  const n = dv.getUint32(16, true);
  if (n > HOTSET_MAX_RUNS) throw bad(16, `${n} runs: at most ${HOTSET_MAX_RUNS}`);
  const size = HEAD + RUN * n + 4;
  if (bytes.length !== size) throw bad(16, `${n} runs make ${size} bytes, the file has ${bytes.length}`);
  const crcAt = size - 4;
  const want = dv.getUint32(crcAt, true);
  const got = crc32(bytes, crcAt);
  if (want !== got)
    throw bad(crcAt, `checksum 0x${want.toString(16)} does not match the contents (0x${got.toString(16)})`);
  const runs: HotRun[] = [];
  for (let o = HEAD; o < crcAt; o += RUN) {
    const vaddr = dv.getBigUint64(o + 8, true);
    if (vaddr >= 1n << 53n || vaddr % 4096n !== 0n)
      throw bad(o + 8, `vaddr 0x${vaddr.toString(16)} is not a page address`);
    const kind = bytes[o + 20];
    if (kind !== 1 && kind !== 2) throw bad(o + 20, `kind ${kind}: expected 1 (fault) or 2 (background)`);
    runs.push({
      pid: dv.getUint32(o, true),
      pages: dv.getUint32(o + 4, true),
      vaddr: Number(vaddr),
      ms: dv.getUint32(o + 16, true),
      kind: kind === 1 ? 'fault' : 'background',
    });
  }
  return { windowMs: dv.getUint32(12, true), runs };
}

/**
 * The pages to prefetch: the fault runs, per pid in the order first asked, each page once,
 * merged into runs of adjacent pages (so a reader can fetch them in few, large reads).
 */
export function prefetchRuns(h: HotSet): { pid: number; vaddr: number; pages: number }[] {
  const seen = new Map<number, Set<number>>();
  const out: { pid: number; vaddr: number; pages: number }[] = [];
  for (const r of h.runs) {
    if (r.kind !== 'fault') continue;
    let s = seen.get(r.pid);
    if (!s) {
      s = new Set();
      seen.set(r.pid, s);
    }
    for (let p = r.vaddr / 4096; p < r.vaddr / 4096 + r.pages; p++) {
      if (s.has(p)) continue;
      s.add(p);
      out.push({ pid: r.pid, vaddr: p * 4096, pages: 1 });
    }
  }
  // sorted per pid, adjacent pages merged: the order of first use matters less than few reads
  out.sort((a, b) => a.pid - b.pid || a.vaddr - b.vaddr);
  const merged: typeof out = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && last.pid === r.pid && last.vaddr + last.pages * 4096 === r.vaddr) last.pages++;
    else merged.push({ ...r });
  }
  return merged;
}
