/**
 * Exporting a process's memory: the runs of dumped bytes (shared by the ELF core exporter) and the
 * raw format.
 *
 * A *run* is a contiguous range of addresses inside one VMA whose bytes the images hold: it ends at
 * the VMA's end, at a hole (pages never dumped) and at lazy pages (their bytes are with a page
 * server). A run is made of *pieces*, each a positioned range of one layer's pages file; a run may
 * mix layers (a page rewritten in a newer snapshot sits between older ones).
 *
 * Copying streams: pieces that continue each other in the same pages file and in the output are
 * merged, then cut into chunks of a few MiB; while one chunk is written the next one is read
 * (two buffers in flight). Never page by page.
 *
 * Raw format: a sparse file whose byte k is the byte at address `base + k`. Only dumped bytes are
 * written; everything else (unmapped gaps, pages never dumped, lazy pages) is a hole, so it reads
 * as zeros and takes no disk space. Address spaces are sparse (a binary at 0x55..., libraries and
 * the stack at 0x7f...: tens of TiB apart), so the span is limited to `maxSpan` (64 GiB) unless
 * `force` is set: the file would be sparse, but ext4 caps files at 16 TiB and copying it with a
 * tool that does not keep holes would write out every zero. Narrow it with `start`/`end`.
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PagestackError } from '../image/errors.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { hex } from '../stack/errors.js';
import type { PagemapMemory } from '../stack/memory.js';
import type { ProcessMemory, Vma } from '../stack/process.js';
import { findExtent, LAZY } from '../stack/resolve.js';
import type { RandomAccessFile } from '../stack/source.js';
import type { Stack } from '../stack/stack.js';
import { formatBytes, noProgress, type ProgressReporter } from './progress.js';

/** The export cannot be done as asked (too large a raw span, a file system limit, ...). */
export class ExportError extends PagestackError {
  override name = 'ExportError';
}

/** A positioned range of a layer's pages file. */
export interface RunPiece {
  readonly file: RandomAccessFile;
  /** Byte offset in the pages file. */
  readonly position: number;
  readonly length: number;
  /** Layer index (0 = top) the bytes come from. */
  readonly layer: number;
}

/** Contiguous dumped bytes inside one VMA. */
export interface MemoryRun {
  /** Address of the first byte. */
  readonly addr: number;
  /** Length in bytes (a multiple of 4096 unless a window cut it). */
  readonly length: number;
  readonly vma: Vma;
  readonly pieces: readonly RunPiece[];
}

export interface RunPlan {
  readonly runs: MemoryRun[];
  /** Bytes in all runs. */
  readonly bytes: number;
  /** Layers that hold some of those bytes. */
  readonly layers: ReadonlySet<number>;
  /** Bytes inside the VMAs (and the window) that are lazy: in no run. */
  readonly lazyBytes: number;
}

export interface AddressWindow {
  /** First address (inclusive). */
  start?: number;
  /** End address (exclusive). */
  end?: number;
}

/** A stand-in for the whole address space when a process has no mm image. */
const NO_VMA: Vma = {
  start: 0,
  end: Number.MAX_SAFE_INTEGER,
  pgoff: 0,
  shmid: 0,
  prot: 3,
  flags: 0,
  status: 0,
  fd: -1,
};

/**
 * The runs of dumped bytes of a process, in address order, within `window`. Shared VMAs are read
 * through their shmem pagemap (as ProcessMemory does).
 */
export function planRuns(pm: ProcessMemory, window: AddressWindow = {}): RunPlan {
  const wStart = window.start ?? 0;
  const wEnd = window.end ?? Number.MAX_SAFE_INTEGER;
  const runs: MemoryRun[] = [];
  const layers = new Set<number>();
  let bytes = 0;
  let lazyBytes = 0;
  const vmas = pm.vmas.length > 0 ? pm.vmas : [NO_VMA];
  for (const vma of vmas) {
    const lo = Math.max(vma.start, wStart);
    const hi = Math.min(vma.end, wEnd);
    if (lo >= hi) continue;
    const shm = pm.shared.get(vma);
    const mem: PagemapMemory = shm ?? pm.private;
    // object address = virtual address - delta
    const delta = shm ? vma.start - vma.pgoff : 0;
    const x = mem.extents;
    const oLo = lo - delta;
    const oHi = hi - delta;
    let pieces: RunPiece[] = [];
    let runStart = -1;
    let runEnd = -1;
    const flush = () => {
      if (pieces.length > 0) {
        runs.push({ addr: runStart + delta, length: runEnd - runStart, vma, pieces });
        bytes += runEnd - runStart;
      }
      pieces = [];
      runStart = -1;
      runEnd = -1;
    };
    for (let i = findExtent(x, Math.floor(oLo / PAGE_SIZE)); i < x.count; i++) {
      const es = x.start[i]! * PAGE_SIZE;
      if (es >= oHi) break;
      const s = Math.max(es, oLo);
      const e = Math.min(x.end[i]! * PAGE_SIZE, oHi);
      if (e <= s) continue;
      const layer = x.layer[i]!;
      if (layer === LAZY) {
        lazyBytes += e - s;
        flush();
        continue;
      }
      if (runEnd !== s) flush();
      if (runStart < 0) runStart = s;
      const file = mem.files[layer];
      if (!file) {
        throw new ExportError(
          `${mem.layerNames[layer]}: no pages file for ${mem.resolved.file}, which places ${hex(s + delta)} there`,
        );
      }
      pieces.push({ file, position: x.offset[i]! + (s - es), length: e - s, layer });
      layers.add(layer);
      runEnd = e;
    }
    flush();
  }
  return { runs, bytes, layers, lazyBytes };
}

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

/** Chunk size: big reads, yet two buffers stay within the L3 cache (measured 1-8 MiB: 4 MiB). */
export const DEFAULT_CHUNK = 4 << 20;

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

function* chunksOf(ops: readonly CopyOp[], chunkSize: number): Generator<Chunk> {
  let c: Chunk = { parts: [], writes: [], length: 0 };
  for (const op of ops) {
    let done = 0;
    while (done < op.length) {
      if (c.length === chunkSize) {
        yield c;
        c = { parts: [], writes: [], length: 0 };
      }
      const n = Math.min(op.length - done, chunkSize - c.length);
      c.parts.push({ file: op.file, position: op.position + done, length: n, at: c.length });
      const out = op.out + done;
      const w = c.writes[c.writes.length - 1];
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

/**
 * Local files: positioned reads on this thread, while the previous chunk's write runs in the
 * thread pool; no promise per piece. Pieces of one file that lie close together (a stack whose
 * layers interleave page by page gives hundreds per chunk) are read with one call into a scratch
 * buffer and copied out: a few KiB of copying costs less than a system call.
 */
function readChunkSync(c: Chunk, buf: Uint8Array): void {
  const byFile = new Map<RandomAccessFile, Part[]>();
  for (const p of c.parts) {
    const l = byFile.get(p.file);
    if (l) l.push(p);
    else byFile.set(p.file, [p]);
  }
  for (const [file, parts] of byFile) {
    parts.sort((a, b) => a.position - b.position);
    let i = 0;
    while (i < parts.length) {
      const first = parts[i]!;
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
        j++;
      }
      if (j === i + 1) {
        const n = readSyncOrThrow(file, buf, first.at, first.length, first.position);
        // a pages file cut short: Stack checked sizes, so only a file shrinking under us gets here
        if (n < first.length) buf.fill(0, first.at + n, first.at + first.length);
      } else {
        scratch ??= new Uint8Array(MERGE_MAX);
        const len = end - first.position;
        const n = readSyncOrThrow(file, scratch, 0, len, first.position);
        if (n < len) scratch.fill(0, n, len);
        for (let k = i; k < j; k++) {
          const p = parts[k]!;
          const off = p.position - first.position;
          buf.set(scratch.subarray(off, off + p.length), p.at);
        }
      }
      i = j;
    }
  }
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
}

function fileSink(fh: FileHandle, name: string, positioned: boolean): OutputSink {
  return {
    name,
    fh: positioned ? fh : null,
    async write(buf, at, length, pos) {
      let done = 0;
      while (done < length) {
        const r = await fh.write(buf, at + done, length - done, positioned ? pos + done : null);
        done += r.bytesWritten;
      }
    },
  };
}

/** A Writable (standard output): each write waits until the stream has taken the bytes. */
export function streamSink(stream: NodeJS.WritableStream, name: string): OutputSink {
  return {
    name,
    fh: null,
    write(buf, at, length) {
      return new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        stream.once('error', onError);
        stream.write(buf.subarray(at, at + length), (e) => {
          stream.removeListener('error', onError);
          if (e) reject(e);
          else resolve();
        });
      });
    },
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
      throw new ExportError(`${out.name}: not a regular file, and this output has holes: write it to a file`);
    }
    expect.next = pos + length;
  }
  await out.write(buf, at, length, pos);
}

async function writeChunk(
  c: Chunk,
  buf: Uint8Array,
  out: OutputSink,
  expect: { next: number },
): Promise<void> {
  for (const w of c.writes) await writeAt(out, buf, w.at, w.length, w.out, expect);
}

/** Start writing back to disk after this many bytes (see copyInto). */
export const FLUSH_EVERY = 64 << 20;

/**
 * Streams `ops` into `fh`: chunks of `chunkSize` bytes, the next chunk read while the last one is
 * written. Reports bytes done to `progress`.
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
): Promise<void> {
  let total = 0;
  for (const op of ops) total += op.length;
  if (total === 0) return;
  const size = Math.min(Math.max(PAGE_SIZE, chunkSize), total);
  const bufs = [new Uint8Array(size), new Uint8Array(size)];
  let pending: Promise<void> | null = null;
  let flushing: Promise<void> | null = null;
  let flushedAt = 0;
  let done = 0;
  let k = 0;
  const afterWrite = (n: number) => {
    done += n;
    progress.update(done);
    if (out.fh && !flushing && done - flushedAt >= FLUSH_EVERY && done < total) {
      flushedAt = done;
      flushing = out.fh.datasync().finally(() => {
        flushing = null;
      });
    }
  };
  try {
    for (const c of chunksOf(ops, size)) {
      const buf = bufs[k++ & 1]!;
      await readChunk(c, buf);
      if (pending) await pending;
      pending = writeChunk(c, buf, out, expect).then(() => afterWrite(c.length));
    }
    if (pending) await pending;
    pending = null;
    if (flushing) await flushing;
  } finally {
    // a failed read must not leave a write or a flush running unobserved
    if (pending) await (pending as Promise<void>).catch(() => {});
    if (flushing) await (flushing as Promise<void>).catch(() => {});
  }
}

/**
 * Writes the output. A regular file (or a new name) is written as a temporary file beside `dest`
 * by `fill`, then fsynced and renamed into place (the temporary file is removed on failure). An
 * existing device, FIFO or socket, or anything under /dev or /proc (`/dev/stdout` may lead to a
 * regular file: renaming over it would replace the link), is opened and written in order; so is
 * `stream` when given (standard output).
 */
export async function writeOutput(
  dest: string,
  fill: (out: OutputSink) => Promise<void>,
  stream?: NodeJS.WritableStream,
): Promise<void> {
  if (stream) {
    await fill(streamSink(stream, dest));
    return;
  }
  let st: Stats | undefined;
  try {
    st = await stat(dest);
  } catch {}
  if (st?.isDirectory()) throw new ExportError(`${dest}: is a directory, expected the file to write`);
  if (st && (!st.isFile() || /^\/(dev|proc)\//.test(resolve(dest)))) {
    let fh: FileHandle;
    try {
      fh = await open(dest, constants.O_WRONLY);
    } catch (e) {
      throw new ExportError(`${dest}: cannot open for writing: ${(e as Error).message}`);
    }
    try {
      await fill(fileSink(fh, dest, false));
    } finally {
      await fh.close().catch(() => {});
    }
    return;
  }
  const dir = dirname(dest);
  const tmp = join(dir, `.${basename(dest)}.pagestack-tmp-${process.pid}`);
  let fh: FileHandle;
  try {
    // memory images may hold secrets: the result is readable by its owner only, like a core dump
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  } catch (e) {
    throw new ExportError(`${dest}: cannot create ${tmp}: ${(e as Error).message}`);
  }
  try {
    await fill(fileSink(fh, dest, true));
    await fh.sync();
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  try {
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new ExportError(`${dest}: cannot rename ${tmp} into place: ${(e as Error).message}`);
  }
  // make the rename durable (best effort: some file systems refuse fsync on a directory)
  try {
    const d = await open(dir, constants.O_RDONLY);
    await d.sync().catch(() => {});
    await d.close();
  } catch {}
}

/** Writes a file I/O failure as one clear line. */
export function ioError(dest: string, e: unknown): Error {
  if (e instanceof PagestackError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') {
    if (err.code === 'ENOSPC') return new ExportError(`${dest}: no space left on the device`);
    if (err.code === 'EFBIG')
      return new ExportError(`${dest}: the file system cannot hold a file this large`);
    return new ExportError(`${dest}: ${err.message}`);
  }
  return e as Error;
}

export interface ExportOptions {
  /** The process; may be omitted when the stack has only one. */
  pid?: number;
  progress?: ProgressReporter;
  /** Only addresses in [start, end). */
  start?: number;
  end?: number;
  /** Read chunk size in bytes (default 4 MiB). */
  chunkSize?: number;
  /** Write to this stream (standard output) instead of the file `dest`, which only names it. */
  stream?: NodeJS.WritableStream;
}

export interface RawExportOptions extends ExportOptions {
  /** Allow a span larger than `maxSpan`. */
  force?: boolean;
  /** Largest span written without `force` (default 64 GiB). */
  maxSpan?: number;
}

export const MAX_RAW_SPAN = 64 * 1024 ** 3;

export interface ExportSummary {
  readonly format: 'elf' | 'raw';
  readonly pid: number;
  readonly output: string;
  /** Runs of dumped bytes written (PT_LOAD segments for ELF). */
  readonly segments: number;
  readonly bytes: number;
  readonly pages: number;
  /** Layers that supplied bytes, and how many the stack has. */
  readonly layersUsed: number;
  readonly stackLayers: number;
  readonly lazyBytes: number;
  /** Size of the output file (for raw: its apparent size). */
  readonly fileSize: number;
  readonly seconds: number;
  /** Raw only: the address of byte 0. */
  readonly base?: number;
  /** ELF only: threads written as NT_PRSTATUS. */
  readonly threads?: number;
  readonly notes?: readonly string[];
}

/** One line: `exported pid 25238: 12 segments, 606 pages (2.4 MiB) from 3 layers to core.elf in 0.05 s`. */
export function formatSummary(s: ExportSummary): string {
  const what = s.format === 'elf' ? `${s.segments} segments` : `${s.segments} runs`;
  const layers = `${s.layersUsed} layer${s.layersUsed === 1 ? '' : 's'}`;
  let line = `exported pid ${s.pid}: ${what}, ${s.pages} pages (${formatBytes(s.bytes)}) from ${layers} to ${s.output}`;
  if (s.format === 'elf') line += ` (ELF core, ${s.threads} thread${s.threads === 1 ? '' : 's'})`;
  else line += ` (raw, byte 0 = ${hex(s.base ?? 0)}, ${formatBytes(s.fileSize)} sparse)`;
  line += ` in ${s.seconds.toFixed(2)} s`;
  if (s.lazyBytes > 0)
    line += `; ${s.lazyBytes / PAGE_SIZE} lazy pages left out (they are with the page server)`;
  return line;
}

/** The window of a raw export: [start, end) defaulting to the first VMA's start and the last's end. */
export function rawWindow(pm: ProcessMemory, opts: AddressWindow): { start: number; end: number } {
  let start = opts.start;
  let end = opts.end;
  if (pm.vmas.length > 0) {
    start ??= pm.vmas[0]!.start;
    end ??= pm.vmas[pm.vmas.length - 1]!.end;
  } else {
    const x = pm.private.extents;
    start ??= x.count > 0 ? x.start[0]! * PAGE_SIZE : 0;
    end ??= x.count > 0 ? x.end[x.count - 1]! * PAGE_SIZE : start;
  }
  if (end < start) {
    throw new ExportError(`empty address window: end ${hex(end)} is below start ${hex(start)}`);
  }
  return { start, end };
}

/** Exports a process's memory as a sparse raw file: byte k is the byte at `base + k`. */
export async function exportRaw(
  stack: Stack,
  dest: string,
  opts: RawExportOptions = {},
): Promise<ExportSummary> {
  const t0 = performance.now();
  const pid = await stack.pickPid(opts.pid);
  const pm = await stack.process(pid);
  const { start, end } = rawWindow(pm, opts);
  const span = end - start;
  const maxSpan = opts.maxSpan ?? MAX_RAW_SPAN;
  if (span > maxSpan && !opts.force) {
    throw new ExportError(
      `${dest}: the raw span ${hex(start)}-${hex(end)} is ${formatBytes(span)}, more than ${formatBytes(maxSpan)}; ` +
        'the file would be sparse (holes take no space), but many file systems cap file sizes (ext4: 16 TiB) ' +
        'and copies that do not keep holes fill the disk: narrow it with --start/--end, or pass --force',
    );
  }
  const plan = planRuns(pm, { start, end });
  const ops = copyOpsFor(plan.runs, (run) => run.addr - start);
  const progress = opts.progress ?? noProgress;
  progress.start(plan.bytes, basename(dest));
  try {
    await writeOutput(dest, async (out) => {
      if (!out.fh) {
        throw new ExportError(
          `${dest}: not a regular file; a raw export is a sparse file with holes: write it to a file`,
        );
      }
      try {
        await out.fh.truncate(span);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EFBIG' || (e as NodeJS.ErrnoException).code === 'EINVAL') {
          throw new ExportError(
            `${dest}: the file system cannot hold a sparse file of ${formatBytes(span)} (${hex(start)}-${hex(end)}); narrow it with --start/--end`,
          );
        }
        throw ioError(dest, e);
      }
      try {
        await copyInto(out, ops, progress, opts.chunkSize);
      } catch (e) {
        throw ioError(dest, e);
      }
    });
  } finally {
    progress.finish();
  }
  return {
    format: 'raw',
    pid,
    output: dest,
    segments: plan.runs.length,
    bytes: plan.bytes,
    pages: Math.ceil(plan.bytes / PAGE_SIZE),
    layersUsed: plan.layers.size,
    stackLayers: stack.layers.length,
    lazyBytes: plan.lazyBytes,
    fileSize: span,
    seconds: (performance.now() - t0) / 1000,
    base: start,
  };
}
