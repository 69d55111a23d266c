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
import { constants } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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

export const DEFAULT_CHUNK = 8 << 20;

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

async function readChunk(c: Chunk, buf: Uint8Array): Promise<void> {
  if (c.parts.every((p) => p.file.readSync)) {
    // Local files: positioned reads on this thread, while the previous chunk's write runs in the
    // thread pool. Much cheaper than a promise per piece when a chunk has hundreds of small pieces
    // (a stack whose layers interleave page by page).
    for (const p of c.parts) {
      let n: number;
      try {
        n = p.file.readSync!(buf, p.at, p.length, p.position);
      } catch (e) {
        throw new ExportError(`reading a pages file at offset ${p.position}: ${(e as Error).message}`);
      }
      if (n < p.length) buf.fill(0, p.at + n, p.at + p.length);
    }
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
      // a pages file cut short: Stack checked sizes, so only a file shrinking under us gets here
      if (n < p.length) buf.fill(0, p.at + n, p.at + p.length);
    }),
  );
}

async function writeChunk(c: Chunk, buf: Uint8Array, fh: FileHandle): Promise<void> {
  for (const w of c.writes) {
    let done = 0;
    while (done < w.length) {
      const { bytesWritten } = await fh.write(buf, w.at + done, w.length - done, w.out + done);
      done += bytesWritten;
    }
  }
}

/**
 * Streams `ops` into `fh`: chunks of `chunkSize` bytes, the next chunk read while the last one is
 * written. Reports bytes done to `progress`.
 */
export async function copyInto(
  fh: FileHandle,
  ops: readonly CopyOp[],
  progress: ProgressReporter = noProgress,
  chunkSize = DEFAULT_CHUNK,
): Promise<void> {
  let total = 0;
  for (const op of ops) total += op.length;
  if (total === 0) return;
  const size = Math.min(Math.max(PAGE_SIZE, chunkSize), total);
  const bufs = [new Uint8Array(size), new Uint8Array(size)];
  let pending: Promise<void> | null = null;
  let done = 0;
  let k = 0;
  try {
    for (const c of chunksOf(ops, size)) {
      const buf = bufs[k++ & 1]!;
      await readChunk(c, buf);
      if (pending) await pending;
      pending = writeChunk(c, buf, fh).then(() => {
        done += c.length;
        progress.update(done);
      });
    }
    if (pending) await pending;
    pending = null;
  } finally {
    // a failed read must not leave a write running unobserved
    if (pending) await pending.catch(() => {});
  }
}

/**
 * Writes a file beside `dest` (a temporary name in the same directory), lets `fill` write it,
 * fsyncs and renames it into place; removes the temporary file on failure.
 */
export async function writeBeside(dest: string, fill: (fh: FileHandle) => Promise<void>): Promise<void> {
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
    await fill(fh);
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
  /** Read chunk size in bytes (default 8 MiB). */
  chunkSize?: number;
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
    await writeBeside(dest, async (fh) => {
      try {
        await fh.truncate(span);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EFBIG' || (e as NodeJS.ErrnoException).code === 'EINVAL') {
          throw new ExportError(
            `${dest}: the file system cannot hold a sparse file of ${formatBytes(span)} (${hex(start)}-${hex(end)}); narrow it with --start/--end`,
          );
        }
        throw ioError(dest, e);
      }
      try {
        await copyInto(fh, ops, progress, opts.chunkSize);
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
