/**
 * Small I/O helpers shared by commands: whole-file reads with clear errors, atomic writes, and the
 * streams a command writes to (the process's own, or a test's when the CLI runs in-process).
 */

import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PagestackError } from '../image/errors.js';
import { errnoText } from '../ops/fs-util.js';

export class FileError extends PagestackError {
  override name = 'FileError';
}

/** Where a command's output goes. */
export interface CliStreams {
  stdout(data: Uint8Array | string): void;
  stderr(text: string): void;
  /** All of standard input. */
  stdin(): Promise<Uint8Array>;
}

export const processStreams: CliStreams = {
  stdout: (data) => {
    process.stdout.write(data);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return new Uint8Array(Buffer.concat(chunks));
  },
};

let current: CliStreams = processStreams;

/** The streams of the command that is running. */
export function cliStreams(): CliStreams {
  return current;
}

/** Sets the streams commands write to; returns the previous ones. */
export function setCliStreams(s: CliStreams): CliStreams {
  const prev = current;
  current = s;
  return prev;
}

/**
 * Reads a whole (image) file; a directory, device or unreadable path is a one-line error. Memory is
 * bounded by the file's size: only regular files (and pipes, which end) are read.
 */
export async function readWholeFile(path: string): Promise<Uint8Array> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new FileError(`${path}: ${describeErrno(e)}`);
  }
  if (st.isDirectory()) throw new FileError(`${path}: is a directory, expected a file`);
  if (!st.isFile() && !st.isFIFO()) {
    const kind = st.isCharacterDevice()
      ? 'a character device'
      : st.isBlockDevice()
        ? 'a block device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
    throw new FileError(`${path}: is ${kind}, expected a regular file`);
  }
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new FileError(`${path}: ${describeErrno(e)}`);
  }
}

/** One short phrase for a failed fs call. */
export const describeErrno = errnoText;

/**
 * Writes `chunks` to `path` atomically: a temporary file beside it, fsync, rename; nothing is
 * left behind on failure. Failures to write are a FileError naming `path`; errors the chunks
 * themselves throw (a failed memory read) pass through. `durable: false` skips the fsync (for
 * output that can be made again, such as decoded JSON: readers still never see a half-written file).
 */
export async function writeFileAtomic(
  path: string,
  chunks: Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: { durable?: boolean } = {},
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.pagestack-tmp-${process.pid}`);
  let fd: number;
  try {
    fd = openSync(tmp, 'w', 0o644);
  } catch (e) {
    throw new FileError(`${path}: cannot write: ${describeErrno(e)}`);
  }
  const parts =
    typeof chunks === 'string' ? [Buffer.from(chunks)] : chunks instanceof Uint8Array ? [chunks] : chunks;
  let ok = false;
  try {
    for await (const buf of parts) {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    }
    if (opts.durable !== false) fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    ok = true;
  } catch (e) {
    if (e instanceof PagestackError) throw e;
    throw new FileError(`${path}: cannot write: ${describeErrno(e)}`);
  } finally {
    if (!ok) {
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
      try {
        unlinkSync(tmp);
      } catch {
        // gone already
      }
    }
  }
}
