/**
 * The raw export format: a sparse file whose byte k is the byte at address `base + k`. Only dumped
 * bytes are written; everything else (unmapped gaps, pages never dumped, lazy pages) is a hole, so
 * it reads as zeros and takes no disk space. Address spaces are sparse (a binary at 0x55...,
 * libraries and the stack at 0x7f...: tens of TiB apart), so the span is limited to `maxSpan`
 * (64 GiB) unless `force` is set: the file would be sparse, but ext4 caps files at 16 TiB and
 * copying it with a tool that does not keep holes would write out every zero. Narrow it with
 * `start`/`end`.
 *
 * The runs and the copy loop are the engine's (src/engine/runs.ts, copy.ts), shared with the ELF
 * core exporter.
 */
import { basename } from 'node:path';
import { copyInto, copyOpsFor } from '../engine/copy.js';
import { outputError, writeOutput } from '../engine/output.js';
import { noProgress } from '../engine/progress.js';
import { type AddressWindow, type ExportOptions, type ExportSummary, planRuns } from '../engine/runs.js';
import { ExportError } from '../errors.js';
import { formatBytes, hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { ProcessMemory } from '../stack/process.js';
import type { Stack } from '../stack/stack.js';

export interface RawExportOptions extends ExportOptions {
  /** Allow a span larger than `maxSpan`. */
  force?: boolean;
  /** Largest span written without `force` (default 64 GiB). */
  maxSpan?: number;
}

export const MAX_RAW_SPAN = 64 * 1024 ** 3;

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
        'and copies that do not keep holes fill the disk',
      'PAGESTACK_RAW_SPAN_TOO_LARGE',
      { file: dest, start, end, span, maxSpan },
    );
  }
  const plan = planRuns(pm, { start, end });
  const ops = copyOpsFor(plan.runs, (run) => run.addr - start);
  const progress = opts.progress ?? noProgress;
  progress.start(plan.bytes, basename(dest));
  try {
    await writeOutput(
      dest,
      async (out) => {
        if (!out.fh) {
          throw new ExportError(
            `${dest}: not a regular file; a raw export is a sparse file with holes: write it to a file`,
          );
        }
        try {
          await out.fh.truncate(span);
        } catch (e) {
          if (
            (e as NodeJS.ErrnoException).code === 'EFBIG' ||
            (e as NodeJS.ErrnoException).code === 'EINVAL'
          ) {
            throw new ExportError(
              `${dest}: the file system cannot hold a sparse file of ${formatBytes(span)} (${hex(start)}-${hex(end)})`,
              'PAGESTACK_FILE_TOO_LARGE',
              { file: dest, start, end },
            );
          }
          throw outputError(dest, e);
        }
        try {
          await copyInto(out, ops, progress, opts.chunkSize);
        } catch (e) {
          throw outputError(dest, e);
        }
      },
      { durable: opts.sync === true, inputs: stack.layers.map((l) => l.source) },
    );
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
