/**
 * Writing results without ever leaving a half-written one under the user's name: the one atomic
 * writer, for files (export, decode -o, encode -o, read -o, dedup's rewritten pages files) and,
 * through the same temporary names and cleanup, for directories (layer-writer.ts).
 *
 *   dest = /x/OUT
 *   temporary   /x/.OUT.pagestack-tmp-<pid>-<rand>   written, fsynced, renamed to /x/OUT, then /x fsynced
 *   set aside   /x/.OUT.pagestack-old-<pid>-<rand>   (directories replaced in place, layer-writer.ts)
 *
 * The temporary name is beside the destination (same filesystem, so the rename is atomic) and
 * carries the writer's pid: a run killed before its rename leaves `.OUT.pagestack-tmp-<pid>-*`,
 * and the next writer of OUT (any of them) removes it once that pid no longer runs (cleanStale).
 *
 * Outputs that are not regular files (a device, a FIFO, standard output) have nothing to replace:
 * writeOutput writes them in order, as streams.
 *
 * Interrupted (SIGINT, SIGTERM), a writer removes its temporaries before it exits (fs.ts
 * trackTemp); renames into place are synchronous, so that removal never races one. An output
 * that is an input (the same file, a link to it, a file inside an input image directory) is
 * refused before anything is written (refuseInputs).
 */
import { randomBytes } from 'node:crypto';
import { constants, renameSync, type Stats, writeSync } from 'node:fs';
import { type FileHandle, lstat, open, readdir, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { OutputError, PagestackError } from '../errors.js';
import type { LayerSource } from '../stack/source.js';
import {
  errnoText,
  exists,
  fsyncDirQuietly,
  fsyncPath,
  pidAlive,
  trackTemp,
  untrackTemp,
  writeAll,
} from './fs.js';

export const TMP_TAG = '.pagestack-tmp-';
export const OLD_TAG = '.pagestack-old-';

/** A fresh temporary name beside `dest`: `.NAME<tag><pid>-<rand>` (tag: TMP_TAG or OLD_TAG). */
export function tempPath(dest: string, tag: string = TMP_TAG): string {
  const abs = resolve(dest);
  return join(dirname(abs), `.${basename(abs)}${tag}${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Runs an fs operation, turning its failure into a one-line OutputError naming `path`. */
async function fsOp<T>(path: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PagestackError) throw e;
    throw new OutputError(`${path}: ${what}: ${errnoText(e)}`, 'PAGESTACK_OUTPUT', { file: path });
  }
}

/**
 * The temporaries of pagestack's writers: `.DEST.pagestack-tmp-<pid>[-<rand>]` and
 * `.DEST.pagestack-old-<pid>-<rand>` (this file), and `.DEST.tmp-<pid>-<8 hex>` (archives written
 * by earlier versions). Groups: DEST, the tag, the writer's pid.
 */
const STALE_RE = /^\.(.+)(\.pagestack-tmp-|\.pagestack-old-|\.tmp-(?=\d+-[0-9a-f]{8}$))(\d+)(?:-[0-9a-f]+)?$/;

/**
 * Cleans what killed writers left in the directory `dest` is in, whatever their destination:
 * brings back an original that a directory replace left under `.NAME.pagestack-old-*` when NAME
 * itself is missing, removes stale temporary files and directories. "Stale" = the pid in the
 * name no longer runs: what writers that still run have there is left alone. Returns the names
 * removed or restored.
 */
export async function cleanStale(dest: string): Promise<string[]> {
  const dir = dirname(resolve(dest));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const done: string[] = [];
  const stale = names
    .map((n) => ({ n, m: STALE_RE.exec(n) }))
    .filter(({ m }) => m !== null && !pidAlive(Number(m[3])))
    .map(({ n, m }) => ({ n, base: m![1]!, old: m![2] === OLD_TAG }));
  // set-aside originals first: one may have to go back in place
  for (const { n, base } of stale.filter((x) => x.old)) {
    const destPath = join(dir, base);
    if (!(await exists(destPath))) {
      await fsOp(destPath, 'restore the original', () => rename(join(dir, n), destPath));
      await fsOp(dir, 'fsync', () => fsyncPath(dir));
      done.push(`${n} -> ${base}`);
    } else {
      await fsOp(join(dir, n), 'remove', () => rm(join(dir, n), { recursive: true, force: true }));
      done.push(n);
    }
  }
  for (const { n } of stale.filter((x) => !x.old)) {
    await fsOp(join(dir, n), 'remove', () => rm(join(dir, n), { recursive: true, force: true }));
    done.push(n);
  }
  return done;
}

/**
 * An input of the command writing: a path (a file, or a directory whose files are inputs), or a
 * layer source (an image directory's real path, or a checkpoint archive file).
 */
export type InputPath = string | LayerSource;

/** The file system path of an input, or null for a source that is no local file. */
function inputPath(i: InputPath): string | null {
  if (typeof i === 'string') return i;
  // DirLayerSource: the real path; ArchiveLayerSource: `<archive real path>\0<dir in it>`
  const p = i.id.split('\0')[0]!;
  return isAbsolute(p) ? p : null;
}

/** Where a path leads: its real path, or (not there yet) its parent's real path and its name. */
async function whereTo(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

function inside(dir: string, p: string): boolean {
  const rel = relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * Refuses an output `dest` that is one of `inputs`: the same file (by path, symbolic or hard
 * link), or a file inside an input directory (an image directory of the input stack), or an
 * input directory itself. Writing it would replace what is being read (an archive, an image)
 * with the output.
 */
export async function refuseInputs(dest: string, inputs: readonly InputPath[]): Promise<void> {
  if (inputs.length === 0) return;
  const where = await whereTo(dest);
  const st = await lstat(where).catch(() => null);
  for (const i of inputs) {
    const p = inputPath(i);
    if (p === null) continue;
    const ip = await whereTo(p);
    const ist = await stat(ip).catch(() => null);
    const refuse = (how: string): never => {
      throw new OutputError(
        `${dest}: ${how} ${p}, an input of this command; write the output elsewhere`,
        'PAGESTACK_OUTPUT_IS_INPUT',
        { file: dest, input: p },
      );
    };
    if (where === ip) refuse(ist?.isDirectory() ? 'is the input directory' : 'is the input');
    if (ist?.isDirectory() && inside(ip, where)) refuse('is inside the input directory');
    if (st && ist && st.dev === ist.dev && st.ino === ist.ino) refuse('is a hard link to the input');
    if (st?.isFile() && st.nlink > 1 && ist?.isDirectory()) {
      // a hard link to a file of an input directory (image directories are flat)
      for (const n of await readdir(ip).catch(() => [] as string[])) {
        const f = await lstat(join(ip, n)).catch(() => null);
        if (f && f.dev === st.dev && f.ino === st.ino)
          refuse(`is a hard link to ${n} in the input directory`);
      }
    }
  }
}

export interface AtomicFileOptions {
  /** Mode of the new file (default 0o644). */
  mode?: number;
  /** fsync before the rename (default true; output that can be made again may skip it). */
  durable?: boolean;
  /** What the command reads: an output that is one of them is refused (refuseInputs). */
  inputs?: readonly InputPath[];
}

/** A regular file being written beside its destination; `commit` renames it into place. */
export class AtomicFile {
  readonly dest: string;
  readonly tmp: string;
  readonly fh: FileHandle;
  private readonly durable: boolean;
  private done = false;

  private constructor(dest: string, tmp: string, fh: FileHandle, durable: boolean) {
    this.dest = dest;
    this.tmp = tmp;
    this.fh = fh;
    this.durable = durable;
  }

  /** Cleans what killed writers of `dest` left, then creates the temporary file. */
  static async create(dest: string, opts: AtomicFileOptions = {}): Promise<AtomicFile> {
    await refuseInputs(dest, opts.inputs ?? []);
    await cleanStale(dest);
    const tmp = tempPath(dest);
    let fh: FileHandle;
    trackTemp(tmp);
    try {
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o644);
    } catch (e) {
      untrackTemp(tmp);
      throw new OutputError(`${dest}: cannot write: ${errnoText(e)}`, 'PAGESTACK_OUTPUT', { file: dest });
    }
    return new AtomicFile(dest, tmp, fh, opts.durable !== false);
  }

  /**
   * fsyncs (when durable), closes and renames into place, then fsyncs the directory.
   * `beforeRename` runs between the close and the rename (a test hook; what it throws passes
   * through, and the temporary file is removed).
   */
  async commit(beforeRename?: () => void | Promise<void>): Promise<void> {
    try {
      if (this.durable) await this.fh.sync();
      await this.fh.close();
    } catch (e) {
      await this.abort();
      throw outputError(this.dest, e);
    }
    try {
      await beforeRename?.();
    } catch (e) {
      await this.abort();
      throw e;
    }
    try {
      // synchronous: an interrupt's cleanup (fs.ts removeLiveTemps) runs before or after it
      renameSync(this.tmp, this.dest);
      untrackTemp(this.tmp);
      this.done = true;
    } catch (e) {
      await this.abort();
      throw new OutputError(`${this.dest}: cannot rename into place: ${errnoText(e)}`, 'PAGESTACK_OUTPUT', {
        file: this.dest,
      });
    }
    // make the rename durable (best effort: some file systems refuse fsync on a directory)
    if (this.durable) await fsyncDirQuietly(dirname(resolve(this.dest)));
  }

  /** Drops the temporary file (on error). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
    untrackTemp(this.tmp);
  }

  /** Writes all of `buf[0, len)` at offset `at` of the temporary file. */
  write(buf: Uint8Array, len: number, at: number): Promise<void> {
    return writeAll(this.fh, buf, len, at);
  }
}

/**
 * Writes `chunks` to `dest` atomically (AtomicFile). Errors the chunks themselves throw (a failed
 * memory read) pass through; failures to write are an OutputError naming `dest`.
 */
export async function writeFileAtomic(
  dest: string,
  chunks: Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: AtomicFileOptions = {},
): Promise<void> {
  const f = await AtomicFile.create(dest, opts);
  const parts =
    typeof chunks === 'string' ? [Buffer.from(chunks)] : chunks instanceof Uint8Array ? [chunks] : chunks;
  try {
    let at = 0;
    for await (const buf of parts) {
      await writeAll(f.fh, buf, buf.length, at);
      at += buf.length;
    }
  } catch (e) {
    await f.abort();
    if (e instanceof PagestackError) throw e;
    throw new OutputError(`${dest}: cannot write: ${errnoText(e)}`, 'PAGESTACK_OUTPUT', { file: dest });
  }
  await f.commit();
}

/**
 * Where an export goes: a regular file (a temporary file beside the destination, renamed into
 * place: `fh` is set, writes are positioned), or a device, FIFO or stream (`/dev/null`, a pipe,
 * standard output) written in order: nothing there to replace, truncate or fsync.
 */
export interface OutputSink {
  /** The destination as the user named it, for messages. */
  readonly name: string;
  /** The temporary regular file, or null for a stream. */
  readonly fh: FileHandle | null;
  /** Writes all of `buf[at, at+length)` at output offset `pos` (streams: at the current end). */
  write(buf: Uint8Array, at: number, length: number, pos: number): Promise<void>;
  /** The file is fsynced before its rename: writers may start writing back early (copyInto). */
  readonly durable?: boolean;
  /**
   * `write`, synchronously, where the sink is a regular file: a copy from the page cache to the
   * page cache is memory copying, and doing it on this thread (as `cat` does) saves a thread-pool
   * round trip per chunk; on a busy machine each of those is a wake-up that waits for a CPU.
   */
  writeSync?(buf: Uint8Array, at: number, length: number, pos: number): void;
  /**
   * The file descriptor of a positioned regular file (the one `writeSync` writes), for a copy
   * loop that writes from a second thread (copyInto).
   */
  readonly fd?: number;
}

function fileSink(fh: FileHandle, name: string, positioned: boolean, durable = false): OutputSink {
  return {
    name,
    fh: positioned ? fh : null,
    durable,
    async write(buf, at, length, pos) {
      let done = 0;
      while (done < length) {
        const r = await fh.write(buf, at + done, length - done, positioned ? pos + done : null);
        done += r.bytesWritten;
      }
    },
    ...(positioned
      ? {
          fd: fh.fd,
          writeSync(buf: Uint8Array, at: number, length: number, pos: number): void {
            let done = 0;
            while (done < length) done += writeSync(fh.fd, buf, at + done, length - done, pos + done);
          },
        }
      : {}),
  };
}

/**
 * Writes bytes to a stream in order (standard output), resolving once the stream has taken them
 * (so a slow reader slows the writer instead of filling memory).
 */
export type StreamWrite = (chunk: Uint8Array) => Promise<void>;

/** A stream as an output sink: in order only. */
export function streamSink(write: StreamWrite, name: string): OutputSink {
  return {
    name,
    fh: null,
    write: (buf, at, length) => write(buf.subarray(at, at + length)),
  };
}

/** Writes `buf[at, at+length)` at output offset `pos`; a stream must be at `expect.next`. */
export async function writeAt(
  out: OutputSink,
  buf: Uint8Array,
  at: number,
  length: number,
  pos: number,
  expect: { next: number },
): Promise<void> {
  if (!out.fh) {
    if (pos !== expect.next) {
      throw new OutputError(
        `${out.name}: not a regular file, and this output has holes: write it to a file`,
        'PAGESTACK_NOT_SEEKABLE',
        { file: out.name },
      );
    }
    expect.next = pos + length;
  }
  await out.write(buf, at, length, pos);
}

/**
 * Writes an output. A regular file (or a new name) is an AtomicFile filled by `fill`. An existing
 * device, FIFO or socket, or anything under /dev or /proc (`/dev/stdout` may lead to a regular
 * file: renaming over it would replace the link), is opened and written in order; so is `stream`
 * when given (standard output). New files get `mode` (default 0o600).
 */
export async function writeOutput(
  dest: string,
  fill: (out: OutputSink) => Promise<void>,
  /** durable (default true): fsync the regular file before its rename. */
  opts: { stream?: StreamWrite; mode?: number; durable?: boolean; inputs?: readonly InputPath[] } = {},
): Promise<void> {
  if (opts.stream) {
    await fill(streamSink(opts.stream, dest));
    return;
  }
  let st: Stats | undefined;
  try {
    st = await stat(dest);
  } catch {}
  if (st?.isDirectory()) {
    throw new OutputError(`${dest}: is a directory, expected the file to write`, 'PAGESTACK_OUTPUT', {
      file: dest,
    });
  }
  await refuseInputs(dest, opts.inputs ?? []);
  if (st && (!st.isFile() || /^\/(dev|proc)\//.test(resolve(dest)))) {
    let fh: FileHandle;
    try {
      fh = await open(dest, constants.O_WRONLY);
    } catch (e) {
      throw new OutputError(`${dest}: cannot open for writing: ${errnoText(e)}`, 'PAGESTACK_OUTPUT', {
        file: dest,
      });
    }
    try {
      await fill(fileSink(fh, dest, false));
    } finally {
      await fh.close().catch(() => {});
    }
    return;
  }
  // memory images may hold secrets: the result is readable by its owner only, like a core dump
  const durable = opts.durable !== false;
  const f = await AtomicFile.create(dest, { mode: opts.mode ?? 0o600, durable, inputs: opts.inputs ?? [] });
  try {
    await fill(fileSink(f.fh, dest, true, durable));
  } catch (e) {
    await f.abort();
    throw e;
  }
  await f.commit();
}

/** A file I/O failure while writing `dest` as one clear line (PagestackErrors pass through). */
export function outputError(dest: string, e: unknown): Error {
  if (e instanceof PagestackError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') {
    if (err.code === 'ENOSPC') {
      return new OutputError(`${dest}: no space left on the device`, 'PAGESTACK_NO_SPACE', { file: dest });
    }
    if (err.code === 'EFBIG') {
      return new OutputError(
        `${dest}: the file system cannot hold a file this large`,
        'PAGESTACK_FILE_TOO_LARGE',
        {
          file: dest,
        },
      );
    }
    return new OutputError(`${dest}: ${err.message}`, 'PAGESTACK_OUTPUT', { file: dest });
  }
  return e as Error;
}
