/**
 * What an archive file is, from its first bytes (never from its name):
 *
 *   gzip   1f 8b                      (RFC 1952)
 *   zstd   28 b5 2f fd                (a zstd frame; skippable frames 5X 2a 4d 18 also start one)
 *   xz     fd 37 7a 58 5a 00          ("\xfd7zXZ\0")
 *   bzip2  42 5a 68 [1-9]             ("BZh" + block size)
 *   tar    "ustar" at offset 257      (POSIX ustar "ustar\0" or GNU "ustar  \0"), or, for old v7
 *                                     tars without magic, a first header whose checksum is right
 */
import { headerChecksumOk } from './tar.js';

export type ArchiveFormat = 'tar' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** Bytes detectFormat wants to see (one tar header block). */
export const DETECT_BYTES = 512;

export function detectFormat(head: Uint8Array): ArchiveFormat | null {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 4 && (b[0]! & 0xf0) === 0x50 && b[1] === 0x2a && b[2] === 0x4d && b[3] === 0x18)
    return 'zstd';
  if (
    b.length >= 6 &&
    b[0] === 0xfd &&
    b[1] === 0x37 &&
    b[2] === 0x7a &&
    b[3] === 0x58 &&
    b[4] === 0x5a &&
    b[5] === 0x00
  )
    return 'xz';
  if (b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3]! >= 0x31 && b[3]! <= 0x39)
    return 'bzip2';
  if (b.length >= 512) {
    const magic = String.fromCharCode(...b.subarray(257, 262));
    if (magic === 'ustar') return 'tar';
    if (b[0] !== 0 && headerChecksumOk(b.subarray(0, 512))) return 'tar';
  }
  return null;
}
