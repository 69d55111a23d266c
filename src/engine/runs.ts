/**
 * The runs of dumped bytes of a process, the unit every export copies.
 *
 * A *run* is a contiguous range of addresses inside one VMA whose bytes the images hold: it ends at
 * the VMA's end, at a hole (pages never dumped) and at lazy pages (their bytes are with a page
 * server). A run is made of *pieces*, each a positioned range of one layer's pages file; a run may
 * mix layers (a page rewritten in a newer snapshot sits between older ones).
 */
import { ExportError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { PagemapMemory } from '../stack/memory.js';
import type { ProcessMemory, Vma } from '../stack/process.js';
import { findExtent, LAZY } from '../stack/resolve.js';
import type { RandomAccessFile } from '../stack/source.js';
import type { StreamWrite } from './output.js';
import type { ProgressReporter } from './progress.js';

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
 * The runs of dumped bytes of a process, in address order, within `window`. Each VMA is read from
 * where ProcessMemory.sources says (private pagemap, shmem pagemap, or both page by page).
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
    let pieces: RunPiece[] = [];
    // process addresses of the run being built
    let runStart = -1;
    let runEnd = -1;
    const flush = () => {
      if (pieces.length > 0) {
        runs.push({ addr: runStart, length: runEnd - runStart, vma, pieces });
        bytes += runEnd - runStart;
      }
      pieces = [];
      runStart = -1;
      runEnd = -1;
    };
    // private memory, the shared object, or both (a shared object mapped MAP_PRIVATE): one run
    // goes on across sources, so a page the process wrote does not cut it
    for (const src of pm.sources(vma, lo, hi)) {
      const mem: PagemapMemory = src.mem;
      // object address = process address - shift
      const delta = src.shift;
      const x = mem.extents;
      const oLo = src.start - delta;
      const oHi = src.end - delta;
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
        if (runEnd !== s + delta) flush();
        if (runStart < 0) runStart = s + delta;
        const file = mem.files[layer];
        if (!file) {
          throw new ExportError(
            `${mem.layerNames[layer]}: no pages file for ${mem.resolved.file}, which places ${hex(s + delta)} there`,
          );
        }
        pieces.push({ file, position: x.offset[i]! + (s - es), length: e - s, layer });
        layers.add(layer);
        runEnd = e + delta;
      }
    }
    flush();
  }
  return { runs, bytes, layers, lazyBytes };
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
  stream?: StreamWrite;
  /**
   * fsync the result before renaming it into place (default false): an export is a derived file,
   * the images it comes from are never at risk, so like `cp` or gdb's `gcore` it need not wait for
   * the disk unless asked. It is written beside `dest` and renamed either way.
   */
  sync?: boolean;
}

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
