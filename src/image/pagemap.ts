/**
 * The hot path: pagemap images decoded straight into columns, without building a message object
 * per entry (a big process has millions of entries).
 *
 *   pagemap-<pid>.img = [COMMON][PAGEMAP] [len][pagemap_head{pages_id}] ([len][pagemap_entry])*
 *   pagemap_entry { 1: vaddr u64, 2: compat_nr_pages u32 (required), 3: in_parent bool,
 *                   4: flags u32, 5: nr_pages u64 }
 *
 * Normalised as CRIU does on read: no `nr_pages` -> `compat_nr_pages`; no `flags` -> `in_parent`
 * ? PE_PARENT : PE_PRESENT. Addresses are kept as page numbers (vaddr / 4096), which are exact
 * doubles for every 64-bit address, so the stack never needs bigint arithmetic.
 *
 * `decodeImage` (the generic, schema-driven path) gives the same entries; tests check one
 * against the other.
 */
import { ImageFormatError } from '../errors.js';
import { forEachEntry, readFraming } from './image.js';
import { u32le, WireReader, type WireType } from './wire.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

export const PE_PARENT = 1;
export const PE_LAZY = 2;
export const PE_PRESENT = 4;

/** Pagemap entries in columns: entry i covers pages [vpage[i], vpage[i] + nrPages[i]). */
export interface PagemapColumns {
  readonly pagesId: number;
  readonly count: number;
  /** First page number (vaddr / 4096). */
  readonly vpage: Float64Array;
  readonly nrPages: Float64Array;
  /** Normalised PE_* flags. */
  readonly flags: Uint32Array;
  /** Byte offset of each entry's length prefix in the file (for error messages). */
  readonly fileOffset: Float64Array;
}

const TWO20 = 1 << 20;
const TWO32 = 0x1_0000_0000;

/** Decodes a pagemap image (process or shmem) into columns. */
export function decodePagemap(buf: Uint8Array): PagemapColumns {
  const { magic, start } = readFraming(buf);
  if (magic !== 'PAGEMAP') throw new ImageFormatError(`expected a PAGEMAP image, found ${magic}`, 4);
  // Count entries first (cheap: one u32 per entry) so the columns are allocated once.
  const n = forEachEntry(buf, start, () => {});
  if (n === 0) throw new ImageFormatError('pagemap has no pagemap_head entry', start);
  const count = n - 1;
  const vpage = new Float64Array(count);
  const nrPages = new Float64Array(count);
  const flags = new Uint32Array(count);
  const fileOffset = new Float64Array(count);
  const b = buf;
  let len = u32le(b, start);
  const pagesId = decodeHead(b, start + 4, start + 4 + len);
  let off = start + 4 + len;
  const cols = { vpage, nrPages, flags };
  for (let i = 0; i < count; i++) {
    len = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
    const s = off + 4;
    const e = s + len;
    fileOffset[i] = off;
    off = e;
    // The quickest path: CRIU's own layout, fields in order, vaddr 1, compat_nr_pages 2, then
    // in_parent 3, flags 4, nr_pages 5 where present; a page-aligned vaddr below 2^49 and the
    // numbers below 2^28. Anything else (or bytes past the entry) takes the path below.
    if (b[s] === 0x08) {
      let p = s + 1;
      let x = b[p++]!;
      let v = x & 0x7f;
      for (let mul = 128; x >= 0x80 && mul <= 0x400_0000_0000; mul *= 128) {
        x = b[p++]!;
        v += (x & 0x7f) * mul;
      }
      const vp = v / PAGE_SIZE;
      if (x < 0x80 && vp === Math.floor(vp) && b[p] === 0x10) {
        p++;
        x = b[p++]!;
        let compat = x & 0x7f;
        for (let sh = 7; x >= 0x80 && sh < 28; sh += 7) {
          x = b[p++]!;
          compat |= (x & 0x7f) << sh;
        }
        let fl = PE_PRESENT;
        let nr = compat;
        if (p < e && b[p] === 0x18 && b[p + 1]! <= 1) {
          if (b[p + 1] === 1) fl = PE_PARENT;
          p += 2;
        }
        if (p < e && b[p] === 0x20 && b[p + 1]! < 0x80) {
          fl = b[p + 1]!;
          p += 2;
        }
        if (p < e && b[p] === 0x28 && x < 0x80) {
          p++;
          x = b[p++]!;
          nr = x & 0x7f;
          for (let sh = 7; x >= 0x80 && sh < 28; sh += 7) {
            x = b[p++]!;
            nr |= (x & 0x7f) << sh;
          }
        }
        if (p === e && x < 0x80) {
          vpage[i] = vp;
          nrPages[i] = nr;
          flags[i] = fl;
          continue;
        }
      }
    }
    // The fast path takes entries made only of fields 1..5 as varints, each once (what CRIU
    // writes); anything else goes to `slowEntry`, which reads it with the checked generic reader.
    let p = s;
    let seen = 0;
    let vaddrLo = 0;
    let vaddrHi = 0;
    let compat = 0;
    let inParent = false;
    let fl = 0;
    let nrLo = 0;
    let nrHi = 0;
    while (p < e) {
      const key = b[p]!;
      const f = key >>> 3;
      if ((key & 7) !== 0 || f === 0 || f > 5 || (seen & (1 << f)) !== 0) break;
      seen |= 1 << f;
      p++;
      // varint -> lo, hi (at most 10 bytes, the 10th at most 1). Bytes past the entry may be read
      // here (undefined past the buffer reads as 0); `p > e` then sends the entry the slow way.
      let x = b[p++]!;
      let lo = x & 0x7f;
      let hi = 0;
      if (x >= 0x80) {
        x = b[p++]!;
        lo |= (x & 0x7f) << 7;
        if (x >= 0x80) {
          x = b[p++]!;
          lo |= (x & 0x7f) << 14;
          if (x >= 0x80) {
            x = b[p++]!;
            lo |= (x & 0x7f) << 21;
            if (x >= 0x80) {
              x = b[p++]!;
              lo |= (x & 0x0f) << 28;
              hi = (x & 0x7f) >>> 4;
              for (let shift = 3; x >= 0x80; shift += 7) {
                x = b[p++]!;
                hi |= (x & 0x7f) << shift;
                if (shift === 31) {
                  if (x > 1) x = 0x80; // the 10th byte holds 1 bit; more is invalid, as is an 11th
                  break;
                }
              }
              hi >>>= 0;
            }
          }
        }
        lo >>>= 0;
        if (x >= 0x80) {
          seen = -1;
          break;
        }
      }
      if (f === 1) {
        vaddrLo = lo;
        vaddrHi = hi;
      } else if (f === 2) compat = lo;
      else if (f === 3) inParent = (lo | hi) !== 0;
      else if (f === 4) fl = lo;
      else {
        nrLo = lo;
        nrHi = hi;
      }
    }
    if (p !== e || seen < 0) {
      slowEntry(b, s, e, i, cols);
      continue;
    }
    store(i, s, cols, seen, vaddrLo, vaddrHi, compat, inParent, fl, nrLo, nrHi);
  }
  return { pagesId, count, vpage, nrPages, flags, fileOffset };
}

interface Columns {
  vpage: Float64Array;
  nrPages: Float64Array;
  flags: Uint32Array;
}

/** Checks entry `i` (starting at `s`) and stores it, normalised; `seen` has bit f for field f. */
function store(
  i: number,
  s: number,
  cols: Columns,
  seen: number,
  vaddrLo: number,
  vaddrHi: number,
  compat: number,
  inParent: boolean,
  fl: number,
  nrLo: number,
  nrHi: number,
): void {
  if ((seen & 2) === 0) throw new ImageFormatError(`pagemap_entry ${i} has no vaddr, expected one`, s);
  if ((seen & 4) === 0) {
    throw new ImageFormatError(`pagemap_entry ${i} has no compat_nr_pages, expected one`, s);
  }
  if ((vaddrLo & 0xfff) !== 0) {
    throw new ImageFormatError(
      `pagemap_entry ${i}: vaddr 0x${((BigInt(vaddrHi) << 32n) | BigInt(vaddrLo)).toString(16)} is not page-aligned, expected a multiple of 4096`,
      s,
    );
  }
  cols.vpage[i] = vaddrHi * TWO20 + (vaddrLo >>> 12);
  if (seen & 32) {
    if (nrHi >= TWO20) {
      throw new ImageFormatError(
        `pagemap_entry ${i}: nr_pages ${(BigInt(nrHi) << 32n) | BigInt(nrLo)} is beyond any address space, expected below 2^52`,
        s,
      );
    }
    cols.nrPages[i] = nrHi * TWO32 + nrLo;
  } else cols.nrPages[i] = compat;
  cols.flags[i] = seen & 16 ? fl : inParent ? PE_PARENT : PE_PRESENT;
}

function decodeHead(b: Uint8Array, s: number, e: number): number {
  const r = new WireReader(b, s, e);
  let pagesId = -1;
  while (r.pos < r.end) {
    const keyAt = r.pos;
    const k = r.keyRaw();
    const no = k >>> 3;
    const wire = (k & 7) as WireType;
    if (no === 1) {
      if (wire !== 0) r.fail(`field pagemap_head.pages_id: wire type ${wire}, expected 0`, keyAt);
      pagesId = r.varintParts(); // uint32: the low 32 bits, as protobuf reads it
    } else r.skip(wire);
  }
  if (pagesId < 0) throw new ImageFormatError('pagemap_head has no pages_id, expected one', s);
  return pagesId;
}

const FIELD_NAMES = ['', 'vaddr', 'compat_nr_pages', 'in_parent', 'flags', 'nr_pages'];

/**
 * An entry the fast path did not take: unknown fields (skipped), repeated fields (the last one
 * wins, as in protobuf), or something malformed (a clear error with its offset).
 */
function slowEntry(b: Uint8Array, s: number, e: number, i: number, cols: Columns): void {
  const r = new WireReader(b, s, e);
  let seen = 0;
  let vaddrLo = 0;
  let vaddrHi = 0;
  let compat = 0;
  let inParent = false;
  let fl = 0;
  let nrLo = 0;
  let nrHi = 0;
  while (r.pos < r.end) {
    const keyAt = r.pos;
    const k = r.keyRaw();
    const f = k >>> 3;
    const wire = (k & 7) as WireType;
    if (f > 5) {
      r.skip(wire);
      continue;
    }
    if (wire !== 0) r.fail(`field pagemap_entry.${FIELD_NAMES[f]}: wire type ${wire}, expected 0`, keyAt);
    const lo = r.varintParts();
    const hi = r.hi;
    seen |= 1 << f;
    if (f === 1) {
      vaddrLo = lo;
      vaddrHi = hi;
    } else if (f === 2) compat = lo;
    else if (f === 3) inParent = (lo | hi) !== 0;
    else if (f === 4) fl = lo;
    else {
      nrLo = lo;
      nrHi = hi;
    }
  }
  store(i, s, cols, seen, vaddrLo, vaddrHi, compat, inParent, fl, nrLo, nrHi);
}
