/** Small I/O helpers shared by commands: whole-file reads with clear errors, atomic writes. */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PagestackError } from '../image/errors.js';

export class FileError extends PagestackError {
  override name = 'FileError';
}

/** Reads a whole (image) file; a directory or unreadable path is a one-line error. */
export async function readWholeFile(path: string): Promise<Uint8Array> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new FileError(`${path}: ${describeErrno(e)}`);
  }
  if (st.isDirectory()) throw new FileError(`${path}: is a directory, expected an image file`);
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new FileError(`${path}: ${describeErrno(e)}`);
  }
}

export function describeErrno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return err?.message ?? String(e);
  }
}

/** Writes `data` to `path` atomically: a temporary file beside it, fsync, rename. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.pagestack-tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
