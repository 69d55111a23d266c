/** How the page writes numbers, sizes, addresses and bytes (no DOM). */

export const PAGE = 4096;

export const hex = (n: number): string => `0x${n.toString(16)}`;
export const commas = (n: number): string => n.toLocaleString('en-US');

export function size(n: number | null): string {
  if (n === null) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}

export const basename = (p: string): string => p.replace(/\/+$/, '').split('/').pop() || p;

/** `xxd` rows as `pagestack read` prints them: "ADDR: 0011 2233 ...  ascii". */
export function xxdRows(bytes: Uint8Array, addr: number, width: number): string[] {
  const rows: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    let h = '';
    let a = '';
    for (let i = 0; i < 16; i++) {
      if (off + i < bytes.length) {
        const b = bytes[off + i]!;
        h += b.toString(16).padStart(2, '0');
        a += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else h += '  ';
      if (i % 2 === 1 && i < 15) h += ' ';
    }
    rows.push(`${(addr + off).toString(16).padStart(width, '0')}: ${h}  ${a}`);
  }
  return rows;
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** An address typed or in the URL: hex (0x...) or decimal. Throws a clear message otherwise. */
export function parseAddress(text: string): number {
  const t = text.trim().replace(/_/g, '');
  if (/^0x[0-9a-f]+$/i.test(t) || /^[0-9]+$/.test(t)) {
    const v = Number(t);
    if (v <= Number.MAX_SAFE_INTEGER) return v;
    throw new Error(`address '${text}' is beyond 2^53, which pagestack cannot address`);
  }
  throw new Error(`address '${text}': expected a number in hex (0x...) or decimal`);
}
