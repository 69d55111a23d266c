/**
 * Small I/O helpers shared by commands: whole-file reads with clear errors, and the streams a
 * command writes to (the process's own, or a test's when the CLI runs in-process). Files are
 * written by the engine's one atomic writer (src/engine/output.ts).
 */

import { once } from 'node:events';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { errnoText } from '../engine/fs.js';
import type { StackLock } from '../engine/lock.js';
import { noProgress, type ProgressReporter, type ProgressSink, textProgressBar } from '../engine/progress.js';
import { FileError, UsageError } from '../errors.js';

/** Where a command's output goes. */
export interface CliStreams {
  stdout(data: Uint8Array | string): void;
  stderr(text: string): void;
  /** All of standard input. */
  stdin(): Promise<Uint8Array>;
  /**
   * Standard output with backpressure: resolves once the stream has taken `data`. Streams that
   * take everything at once (a test's buffer) leave it out: `stdout` is used then.
   */
  write?(data: Uint8Array | string): Promise<void>;
  /** Where a progress bar may be drawn (a person watching a terminal), or null. */
  progressSink?(): ProgressSink | null;
  /** Standard output is a terminal (binary written there would garble it). */
  stdoutIsTerminal?(): boolean;
}

export const processStreams: CliStreams = {
  stdout: (data) => {
    process.stdout.write(data);
  },
  write: async (data) => {
    // once() rejects if the stream fails while we wait
    if (!process.stdout.write(data)) await once(process.stdout, 'drain');
  },
  progressSink: () =>
    process.stderr.isTTY
      ? {
          write: (s: string) => process.stderr.write(s),
          get columns() {
            return process.stderr.columns;
          },
        }
      : null,
  stdoutIsTerminal: () => process.stdout.isTTY === true,
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

/** Writes to standard output, waiting for the stream to take it where it can say so. */
export async function writeStdout(data: Uint8Array | string): Promise<void> {
  const s = current;
  if (s.write) await s.write(data);
  else s.stdout(data);
}

/**
 * Refuses binary output to a terminal, as gzip does ("compressed data not written to a terminal"):
 * raw memory or an ELF core would garble the screen. Called before anything is read.
 */
export function refuseBinaryToTerminal(what: string): void {
  if (current.stdoutIsTerminal?.() === true) {
    throw new UsageError(
      `${what}: binary data not written to a terminal: redirect standard output (> FILE, | PROGRAM) or name a file with -o FILE`,
    );
  }
}

/**
 * A progress bar on standard error for a person watching a terminal (as export's); nothing
 * otherwise, where the command's summary line says what was done.
 */
export function cliProgress(): ProgressReporter {
  const sink = current.progressSink?.() ?? null;
  return sink ? textProgressBar(sink) : noProgress;
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
    throw new FileError(`${path}: ${errnoText(e)}`);
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
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.length); // a view, not a copy
  } catch (e) {
    throw new FileError(`${path}: ${errnoText(e)}`);
  }
}

/**
 * Takes the writer's lock of `paths` (src/engine/lock.ts) for the command `what`; with `wait`,
 * says once on stderr whom it waits for.
 */
export async function lockForWriting(
  paths: string | readonly string[],
  what: string,
  wait: boolean | undefined,
): Promise<StackLock> {
  // loaded by the commands that write (node:net, node:crypto): start-up of the others counts
  const { StackLock } = await import('../engine/lock.js');
  return StackLock.acquire(paths, {
    what,
    wait: wait === true,
    onWait: (path, holder) =>
      cliStreams().stderr(
        `pagestack: ${path}: waiting for ${holder && holder.pid > 0 ? `pid ${holder.pid}${holder.what ? ` (pagestack ${holder.what})` : ''}` : 'another process'} to finish writing\n`,
      ),
  });
}
