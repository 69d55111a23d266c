/**
 * The copy loop of every export: pieces of pages files to places in an output.
 *
 * Pieces that continue each other in the same pages file and in the output are merged, then cut
 * into chunks of 128 KiB (DEFAULT_CHUNK). Never page by page. Into a regular file from local
 * files, chunks are read on this thread and, for big copies, written from a second one
 * (write-thread.ts) so that the two kernel copies overlap; otherwise the next chunk is read while
 * the last one is written (two buffers in flight).
 *
 * Where the optional copy_file_range addon loaded (copy-range.ts), pieces of at least
 * `KERNEL_MIN` bytes from a local file into a regular output file are copied by the kernel
 * instead: one copy per byte, page cache to page cache, instead of a read into our buffer and a
 * write out of it. What it does not take (smaller pieces, files it refuses) goes through the loop.
 */
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ExportError, OutputError } from '../errors.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { RandomAccessFile } from '../stack/source.js';
import { type CopyFileRange, copyRange } from './copy-range.js';
import { type OutputSink, writeAt } from './output.js';
import { noProgress, type ProgressReporter } from './progress.js';
import type { MemoryRun } from './runs.js';
import { MAX_WRITES_PER_SLOT, WriteThread } from './write-thread.js';

/** One read from a pages file to a place in the output. */
export interface CopyOp {
  file: RandomAccessFile;
  position: number;
  length: number;
  /** Byte offset in the output file. */
  out: number;
}

/** The copy ops of runs laid out by `outOf(run)`, merged where they continue each other. */
export function copyOpsFor(
  runs: readonly MemoryRun[],
  outOf: (run: MemoryRun, index: number) => number,
): CopyOp[] {
  const ops: CopyOp[] = [];
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    let out = outOf(run, r);
    for (const p of run.pieces) {
      const last = ops[ops.length - 1];
      if (
        last &&
        last.file === p.file &&
        last.position + last.length === p.position &&
        last.out + last.length === out
      ) {
        last.length += p.length;
      } else {
        ops.push({ file: p.file, position: p.position, length: p.length, out });
      }
      out += p.length;
    }
  }
  return ops;
}

/**
 * Chunk size: 128 KiB, as cat's. Measured on an idle machine (1.5 GiB of pages files into one
 * file, page cache warm): a plain Node read/write loop took 0.63 s with 128 KiB buffers and
 * 2.54 s with 4 MiB ones (the time is in the kernel's write; a buffer that fits the L2 cache is
 * copied into the page cache much faster); the 1 GiB 4-layer export went from 1.05-1.65 s at
 * 4 MiB to 0.91-1.1 s.
 */
export const DEFAULT_CHUNK = 128 << 10;

interface Part {
  file: RandomAccessFile;
  position: number;
  length: number;
  /** Offset in the chunk buffer. */
  at: number;
}

interface Chunk {
  parts: Part[];
  /** Contiguous output ranges: buffer [at, at+length) goes to the output at `out`. */
  writes: { at: number; length: number; out: number }[];
  length: number;
}

/** Chunks of at most `chunkSize` bytes and `maxWrites` contiguous output ranges. */
function* chunksOf(ops: readonly CopyOp[], chunkSize: number, maxWrites = Infinity): Generator<Chunk> {
  let c: Chunk = { parts: [], writes: [], length: 0 };
  for (const op of ops) {
    let done = 0;
    while (done < op.length) {
      const out = op.out + done;
      let w: Chunk['writes'][number] | undefined = c.writes[c.writes.length - 1];
      const continues = w !== undefined && w.out + w.length === out;
      if (c.length === chunkSize || (!continues && c.writes.length === maxWrites)) {
        yield c;
        c = { parts: [], writes: [], length: 0 };
        w = undefined;
      }
      const n = Math.min(op.length - done, chunkSize - c.length);
      c.parts.push({ file: op.file, position: op.position + done, length: n, at: c.length });
      if (w && w.out + w.length === out) w.length += n;
      else c.writes.push({ at: c.length, length: n, out });
      c.length += n;
      done += n;
    }
  }
  if (c.length > 0) yield c;
}

/** Pieces of one pages file this close together are read with one call, the gap thrown away. */
const MERGE_GAP = 32 * 1024;
/** Longest merged read (the scratch buffer's size). */
const MERGE_MAX = 1 << 20;
let scratch: Uint8Array | null = null;

function readSyncOrThrow(
  file: RandomAccessFile,
  buf: Uint8Array,
  at: number,
  len: number,
  pos: number,
): number {
  try {
    return file.readSync!(buf, at, len, pos);
  } catch (e) {
    throw new ExportError(`reading a pages file at offset ${pos}: ${(e as Error).message}`);
  }
}

/** Pieces of one file read with one call (`first`..`last` of its parts sorted by position). */
interface ReadGroup {
  file: RandomAccessFile;
  parts: Part[];
  first: number;
  last: number;
  /** File bytes the call reads (the parts and the gaps between them). */
  length: number;
}

/**
 * Local files: positioned reads on this thread, no promise per piece. Pieces of one file that
 * lie close together (a stack whose layers interleave page by page gives hundreds per chunk) are
 * read with one call, the gaps thrown away: a few KiB of extra copying costs less than a system
 * call.
 *
 * Where such a group's pieces sit in the chunk as they sit in the file (the bottom layer of a
 * stack: a full dump whose pages are at file offsets in address order, with holes where upper
 * layers rewrote pages), the call reads straight into the chunk: the gaps land exactly where the
 * other pieces go, and those are read afterwards, over them. That is done for one file per chunk
 * (the one with most bytes in it) and only for groups whose spans do not overlap, so that nothing
 * it spills over is a piece already in place. Other groups go through a scratch buffer and are
 * copied out piece by piece.
 */
function readChunkSync(c: Chunk, buf: Uint8Array): void {
  const byFile = new Map<RandomAccessFile, Part[]>();
  for (const p of c.parts) {
    const l = byFile.get(p.file);
    if (l) l.push(p);
    else byFile.set(p.file, [p]);
  }
  let main: RandomAccessFile | null = null;
  let mainBytes = 0;
  const groups: ReadGroup[] = [];
  for (const [file, parts] of byFile) {
    parts.sort((a, b) => a.position - b.position);
    let bytes = 0;
    let i = 0;
    while (i < parts.length) {
      const first = parts[i]!;
      bytes += first.length;
      let end = first.position + first.length;
      let j = i + 1;
      while (j < parts.length) {
        const q = parts[j]!;
        if (
          q.position < end ||
          q.position - end > MERGE_GAP ||
          q.position + q.length - first.position > MERGE_MAX
        ) {
          break;
        }
        end = q.position + q.length;
        bytes += q.length;
        j++;
      }
      groups.push({ file, parts, first: i, last: j - 1, length: end - first.position });
      i = j;
    }
    if (bytes > mainBytes) {
      mainBytes = bytes;
      main = file;
    }
  }
  // the main file's groups that can be read in place, in chunk order, spans apart
  let spanEnd = 0;
  const direct = new Set<ReadGroup>();
  const inPlace = groups
    .filter((g) => g.file === main && g.last > g.first && laidOutAsInFile(g, buf.length))
    .sort((a, b) => a.parts[a.first]!.at - b.parts[b.first]!.at);
  for (const g of inPlace) {
    const at = g.parts[g.first]!.at;
    if (at < spanEnd) continue;
    direct.add(g);
    spanEnd = at + g.length;
  }
  for (const g of direct) {
    const first = g.parts[g.first]!;
    const n = readSyncOrThrow(g.file, buf, first.at, g.length, first.position);
    // a pages file cut short: Stack checked sizes, so only a file shrinking under us gets here
    if (n < g.length) buf.fill(0, first.at + n, first.at + g.length);
  }
  for (const g of groups) {
    if (direct.has(g)) continue;
    const first = g.parts[g.first]!;
    if (g.last === g.first) {
      const n = readSyncOrThrow(g.file, buf, first.at, first.length, first.position);
      if (n < first.length) buf.fill(0, first.at + n, first.at + first.length);
      continue;
    }
    if (g.file.readvSync && g.last - g.first < MAX_IOV_PARTS && readGroupv(g, buf)) continue;
    scratch ??= new Uint8Array(MERGE_MAX);
    const n = readSyncOrThrow(g.file, scratch, 0, g.length, first.position);
    if (n < g.length) scratch.fill(0, n, g.length);
    for (let k = g.first; k <= g.last; k++) {
      const p = g.parts[k]!;
      const off = p.position - first.position;
      buf.set(scratch.subarray(off, off + p.length), p.at);
    }
  }
}

/** Most pieces of a group read with one scattered read (two buffers each: its gap and itself). */
const MAX_IOV_PARTS = 480;
let junk: Uint8Array | null = null;

/**
 * Reads a group with one scattered read (preadv): each piece straight to its place in the chunk,
 * each gap into one throw-away buffer; no copying out of a scratch buffer. False (nothing
 * decided) when the file came up short: the caller reads the group the other way.
 */
function readGroupv(g: ReadGroup, buf: Uint8Array): boolean {
  junk ??= new Uint8Array(MERGE_GAP);
  const iov: Uint8Array[] = [];
  let at = g.parts[g.first]!.position;
  for (let k = g.first; k <= g.last; k++) {
    const p = g.parts[k]!;
    if (p.position > at) iov.push(junk.subarray(0, p.position - at));
    iov.push(buf.subarray(p.at, p.at + p.length));
    at = p.position + p.length;
  }
  let n: number;
  try {
    n = g.file.readvSync!(iov, g.parts[g.first]!.position);
  } catch (e) {
    throw new ExportError(
      `reading a pages file at offset ${g.parts[g.first]!.position}: ${(e as Error).message}`,
    );
  }
  return n === g.length;
}

/** Whether a group's pieces are as far apart in the chunk as in the file (and the span fits). */
function laidOutAsInFile(g: ReadGroup, bufLength: number): boolean {
  const first = g.parts[g.first]!;
  if (first.at + g.length > bufLength) return false;
  for (let k = g.first + 1; k <= g.last; k++) {
    const p = g.parts[k]!;
    if (p.at - first.at !== p.position - first.position) return false;
  }
  return true;
}

async function readChunk(c: Chunk, buf: Uint8Array): Promise<void> {
  if (c.parts.every((p) => p.file.readSync)) {
    readChunkSync(c, buf);
    return;
  }
  await Promise.all(
    c.parts.map(async (p) => {
      let n: number;
      try {
        n = await p.file.read(buf, p.at, p.length, p.position);
      } catch (e) {
        throw new ExportError(`reading a pages file at offset ${p.position}: ${(e as Error).message}`);
      }
      if (n < p.length) buf.fill(0, p.at + n, p.at + p.length);
    }),
  );
}

async function writeChunk(
  c: Chunk,
  buf: Uint8Array,
  out: OutputSink,
  expect: { next: number },
): Promise<void> {
  for (const w of c.writes) await writeAt(out, buf, w.at, w.length, w.out, expect);
}

/**
 * Sparse inputs, sparse outputs. A pages file may be mostly holes (1 TiB of them and a few pages of
 * data): read, its holes are zeros, and written out densely they would fill the disk. So into a
 * regular file (a new one: holes read as zeros) a chunk that is all zeros is not written, and the
 * file is extended to its full size at the end; and before anything is written, the data the
 * inputs can hold at most (per pages file, the bytes it allocates: st_blocks) must fit in the
 * output's file system, else the copy is refused in one line.
 */
function allZero(buf: Uint8Array, n: number, zeros: Uint8Array): boolean {
  return Buffer.from(buf.buffer, buf.byteOffset, n).equals(zeros.subarray(0, n));
}

/** Refuses a copy whose data cannot fit in the free space of the output's file system. */
async function checkRoom(out: OutputSink, ops: readonly CopyOp[], total: number): Promise<void> {
  const referenced = new Map<RandomAccessFile, number>();
  for (const op of ops) referenced.set(op.file, (referenced.get(op.file) ?? 0) + op.length);
  let bound = 0;
  for (const [file, bytes] of referenced) bound += Math.min(bytes, file.allocated ?? bytes);
  let free: number;
  try {
    const st = await statfs(dirname(resolve(out.name)));
    free = st.bavail * st.bsize;
  } catch {
    return; // not a path (or no statfs): the writes will say
  }
  if (bound > free) {
    throw new OutputError(
      `${out.name}: needs room for up to ${bound} bytes of page data (${total} with the holes of sparse pages files), but its file system has ${free} bytes free`,
      'PAGESTACK_OUTPUT',
      { file: out.name },
    );
  }
}

/** A turn for the event loop (no thread involved). */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Copies at least this big write from a second thread (write-thread.ts); below, the thread's
 * start-up (~20-40 ms) costs more than the overlap saves.
 */
export const THREADED_MIN = 32 << 20;
/** Chunks in flight between the reading and the writing thread (8 x 128 KiB: within L2). */
const THREAD_SLOTS = 8;

/** Start writing back to disk after this many bytes (see copyInto). */
export const FLUSH_EVERY = 64 << 20;

/**
 * Streams `ops` into `fh`: chunks of `chunkSize` bytes, the next chunk read while the last one is
 * written, or copy_file_range for big pieces where it loaded (`kernelBytes`: the bytes it copied).
 * Reports bytes done to `progress`.
 *
 * Every `FLUSH_EVERY` bytes an fdatasync starts in the background (at most one at a time), so the
 * disk writes the result back while the copy goes on, and the fsync before the rename finds
 * little left to do: the whole export takes about max(copy, write-back), not their sum.
 */
export async function copyInto(
  out: OutputSink,
  ops: readonly CopyOp[],
  progress: ProgressReporter = noProgress,
  chunkSize = DEFAULT_CHUNK,
  /** For a non-regular sink: the output offset it is at (everything before is written). */
  expect: { next: number } = { next: 0 },
  /** Copies of at least this many bytes write from a second thread (tests lower it). */
  threadedMin = THREADED_MIN,
  /** Pieces of at least this many bytes go to copy_file_range where it loaded (tests lower it). */
  kernelMin = KERNEL_MIN,
): Promise<{ kernelBytes: number }> {
  const cfr = out.fd !== undefined && out.writeSync ? copyRange() : null;
  if (!cfr || out.fd === undefined) {
    await copyLoop(out, ops, progress, chunkSize, expect, threadedMin);
    return { kernelBytes: 0 };
  }
  if (out.fh) {
    let total = 0;
    for (const op of ops) total += op.length;
    await checkRoom(out, ops, total);
  }
  const rest = await copyKernel(cfr, out, ops, progress, kernelMin);
  if (rest.ops.length === 0) return { kernelBytes: rest.done };
  const base = rest.done;
  await copyLoop(
    out,
    rest.ops,
    { start: () => {}, update: (n: number) => progress.update(base + n), finish: () => {} },
    chunkSize,
    expect,
    threadedMin,
  );
  return { kernelBytes: base };
}

/**
 * Smallest piece handed to copy_file_range: below, a system call per piece costs more than the
 * loop's merged reads (pieces of one file close together are read with one call). Measured on
 * ext4 (1 GiB from the page cache, 2 cores at load ~20, 2026-12-07): calls of 8 MiB 1.5-1.8 s,
 * of 64 KiB 2.5 s, of 16 KiB 6.3 s (~40-90 us a call), `cat` 1.8-2.6 s.
 */
export const KERNEL_MIN = 1 << 20;
/** copy_file_range calls are cut at this many bytes, for progress and a turn for the event loop. */
const KERNEL_SLICE = 8 << 20;

/**
 * Copies the pieces that are local files' (an fd, no holes: st_blocks covers the size) and at
 * least `kernelMin` long with
 * copy_file_range; returns the rest (smaller pieces, and everything once the kernel refused the
 * files) and the bytes done. Starts write-back every FLUSH_EVERY bytes as the loop does.
 */
async function copyKernel(
  cfr: CopyFileRange,
  out: OutputSink,
  ops: readonly CopyOp[],
  progress: ProgressReporter,
  kernelMin: number,
): Promise<{ ops: CopyOp[]; done: number }> {
  const fdOut = out.fd!;
  const rest: CopyOp[] = [];
  let refused = false;
  let done = 0;
  let flushing: Promise<void> | null = null;
  let flushedAt = 0;
  try {
    for (const op of ops) {
      const fdIn = op.file.fd;
      // a pages file with holes goes through the loop, which keeps them holes (copy_file_range
      // would write them out as zeros on file systems that do not share extents)
      const dense = op.file.allocated !== undefined && op.file.allocated >= op.file.size;
      if (refused || fdIn === undefined || !dense || op.length < kernelMin) {
        rest.push(op);
        continue;
      }
      let at = 0;
      while (at < op.length) {
        const n = Math.min(KERNEL_SLICE, op.length - at);
        const r = cfr(fdIn, op.position + at, fdOut, op.out + at, n);
        if (r < 0) refused = true;
        if (r > 0) {
          at += r;
          done += r;
          progress.update(done);
        }
        if (r < n) break;
        if (out.fh && out.durable && !flushing && done - flushedAt >= FLUSH_EVERY) {
          flushedAt = done;
          flushing = out.fh.datasync().finally(() => {
            flushing = null;
          });
        }
        await yieldToLoop();
      }
      // the part the kernel did not copy (refused, or the input ended: the loop's read comes up
      // short and zero-fills, as for any piece)
      if (at < op.length) {
        rest.push({ file: op.file, position: op.position + at, length: op.length - at, out: op.out + at });
      }
    }
    if (flushing) await flushing;
  } finally {
    if (flushing) await (flushing as Promise<void>).catch(() => {});
  }
  return { ops: rest, done };
}

/** The loop: chunks read into buffers and written out (see the head of this file). */
async function copyLoop(
  out: OutputSink,
  ops: readonly CopyOp[],
  progress: ProgressReporter,
  chunkSize: number,
  expect: { next: number },
  threadedMin: number,
): Promise<void> {
  let total = 0;
  for (const op of ops) total += op.length;
  if (total === 0) return;
  const size = Math.min(Math.max(PAGE_SIZE, chunkSize), total);
  const bufs = [new Uint8Array(size)];
  // a positioned regular file: all-zero chunks become holes (see allZero)
  const sparse = out.fd !== undefined && out.fh !== null;
  const zeros = sparse ? new Uint8Array(size) : null;
  let skippedEnd = 0;
  const skip = (c: Chunk, buf: Uint8Array): boolean => {
    if (!zeros || !allZero(buf, c.length, zeros)) return false;
    for (const w of c.writes) skippedEnd = Math.max(skippedEnd, w.out + w.length);
    return true;
  };
  const extend = async (): Promise<void> => {
    if (skippedEnd > 0 && out.fh && (await out.fh.stat()).size < skippedEnd)
      await out.fh.truncate(skippedEnd);
  };
  if (out.fh) await checkRoom(out, ops, total);
  let pending: Promise<void> | null = null;
  let flushing: Promise<void> | null = null;
  let flushedAt = 0;
  let done = 0;
  let k = 0;
  const afterWrite = (n: number) => {
    done += n;
    progress.update(done);
    if (out.fh && out.durable && !flushing && done - flushedAt >= FLUSH_EVERY && done < total) {
      flushedAt = done;
      flushing = out.fh.datasync().finally(() => {
        flushing = null;
      });
    }
  };
  const writeSync = out.writeSync?.bind(out);
  const localReads = ops.every((op) => op.file.readSync);
  if (out.fd !== undefined && writeSync && localReads && total >= threadedMin) {
    // local files into a regular file, big: read here, write on a second thread (write-thread.ts)
    const writer = new WriteThread(out.fd, THREAD_SLOTS, size);
    const lengths = new Float64Array(THREAD_SLOTS);
    let seen = 0;
    const advance = () => {
      const w = writer.written;
      let n = 0;
      for (; seen < w; seen++) n += lengths[seen % THREAD_SLOTS]!;
      if (n > 0) afterWrite(n);
    };
    let finished = false;
    try {
      let sinceYield = 0;
      for (const c of chunksOf(ops, size, MAX_WRITES_PER_SLOT)) {
        const buf = await writer.nextSlot();
        advance();
        readChunkSync(c, buf);
        lengths[k % THREAD_SLOTS] = c.length;
        writer.publish(skip(c, buf) ? [] : c.writes);
        k++;
        // a turn for the event loop (signals, progress, write-back flushes) every 1 MiB
        if (++sinceYield === THREAD_SLOTS) {
          sinceYield = 0;
          await yieldToLoop();
        }
      }
      await writer.finish();
      finished = true;
      advance();
      await extend();
      if (flushing) await flushing;
    } finally {
      if (!finished) await writer.stop();
      if (flushing) await (flushing as Promise<void>).catch(() => {});
    }
    return;
  }
  if (writeSync && localReads) {
    // local files into a regular file: read and write each chunk on this thread, one buffer
    // (measured, 1 GiB 4-layer export at load 10: 1.3-1.7 s instead of 2.3-5.7 s, which was spent
    // waiting for the thread pool's writes to be scheduled); a turn for the event loop between
    // chunks, and write-back flushes (durable sinks) still run in the background
    const buf = bufs[0]!;
    try {
      for (const c of chunksOf(ops, size)) {
        readChunkSync(c, buf);
        if (!skip(c, buf)) for (const w of c.writes) writeSync(buf, w.at, w.length, w.out);
        afterWrite(c.length);
        await yieldToLoop();
      }
      await extend();
      if (flushing) await flushing;
    } finally {
      if (flushing) await (flushing as Promise<void>).catch(() => {});
    }
    return;
  }
  bufs.push(new Uint8Array(size));
  try {
    for (const c of chunksOf(ops, size)) {
      const buf = bufs[k++ & 1]!;
      await readChunk(c, buf);
      if (pending) await pending;
      pending = skip(c, buf)
        ? Promise.resolve(afterWrite(c.length))
        : writeChunk(c, buf, out, expect).then(() => afterWrite(c.length));
    }
    if (pending) await pending;
    pending = null;
    await extend();
    if (flushing) await flushing;
  } finally {
    // a failed read must not leave a write or a flush running unobserved
    if (pending) await (pending as Promise<void>).catch(() => {});
    if (flushing) await (flushing as Promise<void>).catch(() => {});
  }
}
