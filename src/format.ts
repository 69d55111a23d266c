/**
 * Numbers as text, the one definition each: addresses in hex and byte sizes for people. No Node
 * APIs (the stack core and the codec use them in messages).
 */

/** `0x1f` form of a number (exact for page-aligned addresses beyond 2^53 too). */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

const SIZE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Bytes for people: "0 B", "4.0 KiB", "2.4 MiB", "1.0 GiB" (three significant digits). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < SIZE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${SIZE_UNITS[u]}`;
}
