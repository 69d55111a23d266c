/**
 * The two decompressors pagestack loads for xz and bzip2 archives ship no types; this is the
 * part of their API src/source/archive/unpack.ts uses (each returns a Node duplex stream).
 */
declare module 'lzma-native' {
  import type { Transform } from 'node:stream';
  /** An .xz (or .lzma) decoding stream (liblzma). */
  export function createDecompressor(options?: { synchronous?: boolean }): Transform;
}

declare module 'unbzip2-stream' {
  import type { Transform } from 'node:stream';
  /** A bzip2 decoding stream (pure JavaScript). */
  export default function unbzip2Stream(): Transform;
}
