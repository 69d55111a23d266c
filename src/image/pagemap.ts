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
import { ImageFormatError } from './errors.js';
import { forEachEntry, readFraming } from './image.js';
import { WireReader } from './wire.js';

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
  let n = 0;
  forEachEntry(buf, start, () => {
    n++;
  });
  if (n === 0) throw new ImageFormatError('pagemap has no pagemap_head entry', start);
  const count = n - 1;
  const vpage = new Float64Array(count);
  const nrPages = new Float64Array(count);
  const flags = new Uint32Array(count);
  const fileOffset = new Float64Array(count);
  let pagesId = -1;
  const b = buf;
  let off = start;
  for (let i = 0; i < n; i++) {
    const len = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
    const s = off + 4;
    const e = s + len;
    if (i === 0) {
      pagesId = decodeHead(b, s, e);
    } else {
      decodeEntry(b, s, e, i - 1, vpage, nrPages, flags);
      fileOffset[i - 1] = off;
    }
    off = e;
  }
  return { pagesId, count, vpage, nrPages, flags, fileOffset };
}

function decodeHead(b: Uint8Array, s: number, e: number): number {
  const r = new WireReader(b, s, e);
  let pagesId = -1;
  while (r.pos < r.end) {
    const [no, wire] = r.key();
    if (no === 1 && wire === 0) pagesId = r.uint32();
    else r.skip(wire);
  }
  if (pagesId < 0) throw new ImageFormatError('pagemap_head has no pages_id', s);
  return pagesId;
}

/**
 * One pagemap_entry. Varints are read inline as (lo 32 bits, hi 32 bits) pairs; anything unusual
 * (unknown fields, odd wire types) falls back to the checked generic reader.
 */
function decodeEntry(
  b: Uint8Array,
  s: number,
  e: number,
  i: number,
  vpage: Float64Array,
  nrPages: Float64Array,
  flags: Uint32Array,
): void {
  let p = s;
  let vaddrLo = -1;
  let vaddrHi = 0;
  let compat = -1;
  let inParent = false;
  let fl = -1;
  let nrLo = -1;
  let nrHi = 0;
  while (p < e) {
    const key = b[p]!;
    if (key >= 0x80) {
      // multi-byte key: not one of fields 1..5
      const r = new WireReader(b, p, e);
      const [, wire] = r.key();
      r.skip(wire);
      p = r.pos;
      continue;
    }
    p++;
    const wire = key & 7;
    if (wire !== 0) {
      const r = new WireReader(b, p - 1, e);
      r.key();
      r.skip(wire as 0 | 1 | 2 | 5);
      p = r.pos;
      continue;
    }
    // varint -> lo, hi
    let lo = 0;
    let hi = 0;
    let byte = 0;
    let k = 0;
    for (; ; k++) {
      if (p >= e) throw new ImageFormatError('truncated varint in pagemap_entry', p);
      byte = b[p++]!;
      if (k < 4) lo |= (byte & 0x7f) << (7 * k);
      else if (k === 4) {
        lo |= (byte & 0x0f) << 28;
        hi = (byte & 0x7f) >>> 4;
      } else hi |= (byte & 0x7f) << (3 + 7 * (k - 5));
      if (byte < 0x80) break;
      if (k === 9) throw new ImageFormatError('invalid varint in pagemap_entry: longer than 10 bytes', p);
    }
    if (k === 9 && byte > 1)
      throw new ImageFormatError('invalid varint in pagemap_entry: more than 64 bits', p);
    lo >>>= 0;
    hi >>>= 0;
    switch (key >>> 3) {
      case 1:
        vaddrLo = lo;
        vaddrHi = hi;
        break;
      case 2:
        compat = lo;
        break;
      case 3:
        inParent = lo !== 0 || hi !== 0;
        break;
      case 4:
        fl = lo;
        break;
      case 5:
        nrLo = lo;
        nrHi = hi;
        break;
      default:
        break;
    }
  }
  if (vaddrLo < 0) throw new ImageFormatError(`pagemap_entry ${i} has no vaddr`, s);
  if (compat < 0) throw new ImageFormatError(`pagemap_entry ${i} has no compat_nr_pages`, s);
  if ((vaddrLo & 0xfff) !== 0) {
    throw new ImageFormatError(
      `pagemap_entry ${i}: vaddr 0x${(BigInt(vaddrHi) * BigInt(TWO32) + BigInt(vaddrLo)).toString(16)} is not page-aligned`,
      s,
    );
  }
  vpage[i] = vaddrHi * TWO20 + (vaddrLo >>> 12);
  let nr = nrLo >= 0 ? nrHi * TWO32 + nrLo : compat;
  if (nrLo >= 0 && nrHi >= TWO20) {
    throw new ImageFormatError(
      `pagemap_entry ${i}: nr_pages ${nrHi * TWO32 + nrLo} is beyond any address space`,
      s,
    );
  }
  if (nrLo < 0) nr = compat;
  nrPages[i] = nr;
  flags[i] = fl >= 0 ? fl : inParent ? 1 : 4;
}
