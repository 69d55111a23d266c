/**
 * Small filesystem helpers the engine's writers share: one errno phrase table, whether a pid
 * still runs, write-everything, fsync of a path, the relative link text between layers, and the
 * temporaries of this process, removed when it is interrupted.
 */
import { rmSync } from 'node:fs';
import { type FileHandle, lstat, open, realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';

/** One short phrase for a failed fs call ("no space left on device"), for one-line errors. */
export function errnoText(e: unknown): string {
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
      return 'not a directory (a component of the path is a file)';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENAMETOOLONG':
      return 'file name too long';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EEXIST':
      return 'already exists';
    case 'ENOTEMPTY':
      return 'directory not empty';
    case 'EXDEV':
      return 'not on the same filesystem';
    case 'ERR_FS_FILE_TOO_LARGE':
      return 'file is too large to read (more than 2 GiB)';
    default:
      return (err?.message ?? String(e)).split('\n')[0]!;
  }
}

/** Whether a process exists (temp files named after a dead pid are leftovers of a killed run). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes all of `buf[0, len)` at file offset `at` (positioned writes may be short). */
export async function writeAll(fh: FileHandle, buf: Uint8Array, len: number, at: number): Promise<void> {
  let done = 0;
  while (done < len) {
    const { bytesWritten } = await fh.write(buf, done, len - done, at + done);
    done += bytesWritten;
  }
}

/** Opens `path` (a file or a directory) and fsyncs it. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of a directory after a rename in it, best effort: some file systems refuse it. */
export async function fsyncDirQuietly(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // nothing to make durable there (or not possible): the rename itself happened
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The relative link text from directory `from` (the link's own directory) to `to`. */
export async function linkTarget(fromDir: string, to: string): Promise<string> {
  const absFrom = join(await realpath(dirname(resolve(fromDir))), basename(resolve(fromDir)));
  const absTo = await realpath(to);
  const rel = relative(absFrom, absTo);
  return rel === '' ? '.' : rel;
}

// --- temporaries removed on SIGINT, SIGTERM, SIGHUP and at exit --------------------------------

/** Temporary files and directories this process is writing (removed if it is interrupted). */
const liveTemps = new Set<string>();
let hooksInstalled = false;

/** Exit statuses for the signals that end a command: 128 + the signal's number, as a shell shows. */
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;

/** Removes every temporary still registered (synchronously: it runs in signal and exit hooks). */
export function removeLiveTemps(): void {
  for (const p of liveTemps) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      // best effort: the next writer in that directory removes it (output.ts cleanStale)
    }
  }
  liveTemps.clear();
}

/**
 * Removes this process's temporaries when it ends: at exit, and on SIGINT, SIGTERM and SIGHUP,
 * after which it exits 130, 143 or 129. A process that handles the signal itself (a server that
 * stops its sessions first: page-server, ui) keeps doing so: then only the exit hook runs, when
 * it has stopped. Idempotent; `trackTemp` installs it.
 */
export function removeTempsOnSignals(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', removeLiveTemps);
  for (const [sig, status] of SIGNALS) {
    process.on(sig, () => {
      // another listener stops the program its own way (and exits, which runs the exit hook)
      if (process.listenerCount(sig) > 1) return;
      removeLiveTemps();
      process.exit(status);
    });
  }
}

/** Registers a temporary file or directory (removed if the process is interrupted). */
export function trackTemp(path: string): void {
  removeTempsOnSignals();
  liveTemps.add(path);
}

/** The temporary is gone or renamed into place: nothing to remove any more. */
export function untrackTemp(path: string): void {
  liveTemps.delete(path);
}

/** The temporaries registered now (for tests). */
export function liveTempPaths(): readonly string[] {
  return [...liveTemps];
}
