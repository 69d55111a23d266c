/**
 * CRIU image bytes written by hand, independently of the codec under test (protobuf varints, CRIU's
 * framing: magics, then each message after its u32 length), and pagemap entries read back.
 */
import { readFileSync } from 'node:fs';
import { decodePagemap } from '../../src/image/pagemap.js';

/**
 * Appends the protobuf varint of `v` to `out` and returns `out`: a number must be a non-negative
 * safe integer; a bigint is written as its 64-bit two's complement (-1n takes ten bytes).
 */
export function varint(out: number[], v: number | bigint): number[] {
  if (typeof v === 'bigint') {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    return out;
  }
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Appends a varint field (key `no << 3`, wire type 0) to `out`; returns `out`. */
export function field(out: number[], no: number, v: number): number[] {
  out.push(no << 3);
  return varint(out, v);
}

/** Appends `v` as a little-endian u32 to `out`; returns `out`. */
export function u32(out: number[], v: number): number[] {
  out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  return out;
}

/** CRIU's COMMON and PAGEMAP magics, the first 8 bytes of a pagemap image. */
export const PAGEMAP_MAGICS = [0x54564319, 0x56084025] as const;

/** A pagemap_entry as CRIU 4.2 writes it: vaddr, compat_nr_pages 0, flags, nr_pages. */
export function pagemapEntry(vaddr: number, nrPages: number, flags: number): number[] {
  const m: number[] = [];
  field(m, 1, vaddr);
  field(m, 2, 0);
  field(m, 4, flags);
  return field(m, 5, nrPages);
}

/** A pagemap image: the magics, pagemap_head { pages_id }, then the entry messages (bytes). */
export function pagemapImage(pagesId: number, entries: readonly (readonly number[])[]): Uint8Array {
  const out: number[] = [];
  for (const m of PAGEMAP_MAGICS) u32(out, m);
  const head = field([], 1, pagesId);
  u32(out, head.length);
  out.push(...head);
  for (const m of entries) {
    u32(out, m.length);
    for (const b of m) out.push(b);
  }
  return Uint8Array.from(out);
}

/** Entries of a pagemap file as [vpage, nrPages, flags]. */
export function entriesOf(path: string): [number, number, number][] {
  const c = decodePagemap(new Uint8Array(readFileSync(path)));
  const out: [number, number, number][] = [];
  for (let i = 0; i < c.count; i++) out.push([c.vpage[i]!, c.nrPages[i]!, c.flags[i]!]);
  return out;
}
