/**
 * Decompressing a gzip, zstd, xz or bzip2 archive once per command, to memory when small, else to a
 * private temporary file. Nothing is ever extracted member by member: the decompressed tar is
 * one container that the tar index reads in place, like a plain .tar.
 *
 * The temporary file lives in a fresh directory made by mkdtemp (mode 0700, under os.tmpdir()),
 * named `pagestack-unpack-<pid>-<random>`; the directory is removed by Unpacked.close(), and, for
 * whatever is still open, when the process exits or gets SIGINT/SIGTERM (engine/fs.ts trackTemp).
 * A SIGKILLed run leaves its directory: the next unpack (of any compressed archive) removes every
 * one whose pid is gone.
 *
 * A decompression bomb is refused: output beyond `limit` bytes (default 64 GiB, settable with the
 * env PAGESTACK_UNPACK_LIMIT or the `limit` option) stops the decompression with an error.
 */
import {
  closeSync,
  constants,
  createReadStream,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pidAlive, trackTemp, untrackTemp } from '../../engine/fs.js';
import { ArchiveError } from './errors.js';
import type { ByteContainer } from './tar.js';

export const DEFAULT_UNPACK_LIMIT = 64 * 1024 ** 3;
/** Up to this many decompressed bytes stay in memory. */
export const DEFAULT_MEMORY_LIMIT = 256 * 1024 ** 2;

export interface UnpackOptions {
  /** Largest decompressed size accepted (bytes). */
  limit?: number;
  /** Largest decompressed size kept in memory (bytes); beyond it a temp file is used. */
  memoryLimit?: number;
}

/** The unpack limit in force: opts, else env PAGESTACK_UNPACK_LIMIT (bytes, K/M/G/T suffix), else the default. */
export function unpackLimit(opts: UnpackOptions = {}): number {
  if (opts.limit !== undefined) return opts.limit;
  const env = process.env['PAGESTACK_UNPACK_LIMIT'];
  if (env) {
    const m = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(env.trim());
    if (!m) throw new ArchiveError(`PAGESTACK_UNPACK_LIMIT="${env}": expected a size such as 8G`);
    const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
    return Number(m[1]) * mult;
  }
  return DEFAULT_UNPACK_LIMIT;
}

export class MemoryContainer implements ByteContainer {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    if (position >= this.size) return 0;
    const n = Math.min(length, this.size - position);
    buf.set(this.bytes.subarray(position, position + n), offset);
    return n;
  }
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return Promise.resolve(this.readSync(buf, offset, length, position));
  }
  close(): void {}
}

/** A local file read at positions by its fd (the plain .tar itself, or the unpacked temp file). */
export class FileContainer implements ByteContainer {
  private fd: number;
  constructor(
    fd: number,
    readonly size: number,
    private readonly onClose?: () => void,
  ) {
    this.fd = fd;
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    if (this.fd < 0) throw new ArchiveError('archive already closed');
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    // positioned pread on a local file: small and fast enough to do synchronously
    return Promise.resolve(this.readSync(buf, offset, length, position));
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.onClose?.();
  }
}

// --- temporary directories: removed on close, exit and signals; stale ones of killed runs -------

const liveTempDirs = new Set<string>();

/** `pagestack-unpack-<pid>-<random>` in the temporary directory: the pid of the run that made it. */
const UNPACK_DIR_RE = /^pagestack-unpack-(\d+)-[A-Za-z0-9]{6}$/;

function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), `pagestack-unpack-${process.pid}-`));
  liveTempDirs.add(dir);
  trackTemp(dir);
  return dir;
}

function dropTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveTempDirs.delete(dir);
  untrackTemp(dir);
}

/**
 * Removes the unpack directories of runs that no longer run (a SIGKILL leaves one, as large as
 * the decompressed archive), this user's only. Returns their paths.
 */
export function removeStaleTempDirs(): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const n of names) {
    const m = UNPACK_DIR_RE.exec(n);
    if (!m || pidAlive(Number(m[1]))) continue;
    const p = join(tmpdir(), n);
    try {
      const st = lstatSync(p);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      // another run removed it first, or it is not ours to remove
    }
  }
  return removed;
}

/** Directories still to be removed (for tests). */
export function pendingTempDirs(): readonly string[] {
  return [...liveTempDirs];
}

/** The compressed formats unpack() reads. */
export type CompressedFormat = 'gzip' | 'zstd' | 'xz' | 'bzip2';

/**
 * A decoding stream for `format`: node:zlib for gzip; zstd-napi (libzstd), lzma-native (liblzma)
 * and unbzip2-stream (JavaScript) loaded only when an archive needs them.
 */
async function decoderFor(format: CompressedFormat): Promise<Transform> {
  switch (format) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return new (await import('zstd-napi')).DecompressStream();
    case 'xz':
      return (await import('lzma-native')).createDecompressor();
    case 'bzip2':
      return (await import('unbzip2-stream')).default();
  }
}

/** Decompresses `path` (gzip, zstd, xz or bzip2) into a container. */
export async function unpack(
  path: string,
  format: CompressedFormat,
  opts: UnpackOptions = {},
): Promise<MemoryContainer | FileContainer> {
  const limit = unpackLimit(opts);
  // what killed runs left (their pid gone), before adding to it
  removeStaleTempDirs();
  const memoryLimit = Math.min(opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT, limit);
  const decoder = await decoderFor(format);
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  let compressedRead = 0;
  input.on('data', (c) => {
    compressedRead += (c as Buffer).length;
  });
  const chunks: Buffer[] = [];
  let total = 0;
  let tempDir: string | null = null;
  let fd = -1;
  const spill = (): void => {
    tempDir = makeTempDir();
    fd = openSync(
      join(tempDir, 'archive.tar'),
      constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
      0o600,
    );
    let pos = 0;
    for (const c of chunks) {
      writeSync(fd, c, 0, c.length, pos);
      pos += c.length;
    }
    chunks.length = 0;
  };
  const cleanupTemp = (): void => {
    if (fd >= 0) closeSync(fd);
    fd = -1;
    if (tempDir) dropTempDir(tempDir);
  };
  const name = format;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown): void => {
        input.destroy();
        decoder.destroy();
        reject(e);
      };
      input.on('error', (e) => fail(new ArchiveError(`${path}: ${e.message}`)));
      decoder.on('error', (e) =>
        fail(
          e instanceof ArchiveError
            ? e
            : new ArchiveError(
                `${path}: ${name} stream broken near compressed offset ${compressedRead} (${e.message}), expected a complete ${name} stream`,
              ),
        ),
      );
      decoder.on('data', (c: Buffer) => {
        total += c.length;
        if (total > limit) {
          fail(
            new ArchiveError(
              `${path}: decompresses to more than ${limit} bytes (the unpack limit; raise it with PAGESTACK_UNPACK_LIMIT), refused as a possible decompression bomb`,
            ),
          );
          return;
        }
        if (fd < 0) {
          chunks.push(c);
          if (total > memoryLimit) spill();
        } else {
          writeSync(fd, c, 0, c.length, total - c.length);
        }
      });
      decoder.on('end', () => resolve());
      input.pipe(decoder);
    });
  } catch (e) {
    cleanupTemp();
    throw e;
  }
  if (fd >= 0) {
    const dir = tempDir!;
    return new FileContainer(fd, total, () => dropTempDir(dir));
  }
  return new MemoryContainer(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
}
