/**
 * Printing helpers shared by the stack commands: counts with commas, pages, aligned tables, and an
 * `xxd`-style hexdump. Hex and byte sizes are src/format.ts's; arguments are parsed in options.ts.
 */
import { formatBytes } from '../format.js';

/** 1234567 -> "1,234,567". */
export function commas(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * How every command names layers: "1 = the first dump (bottom), 3 = the top" for a 3-layer stack.
 * Layers are numbered from the bottom (1 = the first dump, N = the top), as the object store's
 * `NAME@N` and the page server's directories count; internally the stack indexes them from the top
 * (0 = top), and `number = count - index`.
 */
export function layerLegend(count: number): string {
  return count <= 1 ? '1 = the only dump' : `1 = the first dump (bottom), ${count} = the top`;
}

/** Pages -> "606 pages (2.4 MiB)". */
export function formatPages(pages: number): string {
  return `${commas(pages)} page${pages === 1 ? '' : 's'} (${formatBytes(pages * 4096)})`;
}

export type Align = 'l' | 'r';

/** Rows of cells as aligned columns (two spaces apart); `align` per column, default left. */
export function table(
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
  indent = '',
): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((c, i) => {
            const last = i === r.length - 1;
            if (align[i] === 'r') return c.padStart(widths[i]!);
            return last ? c : c.padEnd(widths[i]!);
          })
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

const HEXDIGITS = new TextEncoder().encode('0123456789abcdef');
/** Hex digit pairs of every byte value (two ASCII bytes each). */
const HEXPAIR = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  HEXPAIR[2 * i] = HEXDIGITS[i >> 4]!;
  HEXPAIR[2 * i + 1] = HEXDIGITS[i & 15]!;
}

/** Width of the address column for a dump of [addr, addr+len): at least 8 hex digits, as xxd. */
export function hexdumpWidth(addr: number, len: number): number {
  return Math.max(8, (addr + Math.max(len, 1) - 1).toString(16).length);
}

/**
 * `xxd`-style lines for `bytes`, the first at address `addr`, as ASCII bytes:
 * "ADDR: 0011 2233 4455 6677 8899 aabb ccdd eeff  ascii\n". Lines hold 16 bytes; call it with
 * chunks whose length is a multiple of 16 to continue a dump. Built byte by byte into one buffer
 * (no string per line), so dumping is bound by output, not by the garbage collector.
 */
export function hexdumpBytes(
  bytes: Uint8Array,
  addr: number,
  width = hexdumpWidth(addr, bytes.length),
): Uint8Array {
  const lineLen = width + 2 + 39 + 2 + 16 + 1;
  const lines = Math.ceil(bytes.length / 16);
  const out = new Uint8Array(lines * lineLen);
  let o = 0;
  // the address, kept as hex digits and incremented by 16 per line (exact beyond 2^32)
  const digits = new Uint8Array(width);
  let a = addr;
  for (let k = width - 1; k >= 0; k--) {
    digits[k] = a % 16;
    a = Math.floor(a / 16);
  }
  for (let off = 0; off < bytes.length; off += 16) {
    for (let k = 0; k < width; k++) out[o++] = HEXDIGITS[digits[k]!]!;
    out[o++] = 0x3a; // ':'
    out[o++] = 0x20;
    const n = Math.min(16, bytes.length - off);
    let asc = o + 39 + 2;
    for (let i = 0; i < 16; i++) {
      if (i < n) {
        const b = bytes[off + i]!;
        out[o] = HEXPAIR[2 * b]!;
        out[o + 1] = HEXPAIR[2 * b + 1]!;
        out[asc++] = b >= 0x20 && b < 0x7f ? b : 0x2e;
      } else {
        out[o] = 0x20;
        out[o + 1] = 0x20;
      }
      o += 2;
      if (i % 2 === 1 && i < 15) out[o++] = 0x20;
    }
    out[o++] = 0x20;
    out[o++] = 0x20;
    o = asc;
    out[o++] = 0x0a;
    // next line's address: add 16 to the digit string
    for (let k = width - 2; k >= 0; k--) {
      if (digits[k]! < 15) {
        digits[k]!++;
        break;
      }
      digits[k] = 0;
    }
  }
  return out.subarray(0, o);
}

/** hexdumpBytes as a string. */
export function hexdump(bytes: Uint8Array, addr: number, width = hexdumpWidth(addr, bytes.length)): string {
  return new TextDecoder('latin1').decode(hexdumpBytes(bytes, addr, width));
}

/** JSON.stringify that writes bigints as numbers when safe, as strings otherwise. */
export function toJson(value: unknown, pretty = true): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v,
    pretty ? 2 : undefined,
  );
}
