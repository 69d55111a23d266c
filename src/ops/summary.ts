/**
 * A stack at a glance (`pagestack show`): its layers with their pages files (size and real disk
 * use), its processes, and for each process (and shared memory object) how many pages each layer
 * holds, takes from below, or leaves lazy.
 *
 * A layer whose pages files take less disk than their size has punched holes: `criu dedup` frees
 * the pages a newer layer rewrote, and those read back as zeros, so such a layer is only valid
 * under its children. (Compressing filesystems also allocate less than the size; the flag is a
 * hint, not proof.)
 */

import { StackError } from '../errors.js';
import { LAZY, type ResolvedPagemap } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';

export interface PagesFileInfo {
  file: string;
  size: number;
  /** Bytes on disk (st_blocks * 512), or null when the source does not say. */
  allocated: number | null;
  /** allocated < size: punched holes (or a compressing filesystem). */
  holes: boolean;
}

export interface LayerSummary {
  /** Position from the top (0 = top), as the stack counts internally. */
  index: number;
  /** The layer's number as every command prints it: 1 = the bottom (the first dump), N = the top. */
  number: number;
  /** The layer's directory (as the stack names it). */
  name: string;
  pagesFiles: PagesFileInfo[];
  /** Sum over pages files. */
  size: number;
  allocated: number | null;
  /** Pages files have holes: this layer is only valid under its children (or, for the top, reads zeros). */
  deduplicated: boolean;
  note: string | null;
}

/** One layer's share of one pagemap. */
export interface LayerPages {
  /** Position from the top (0 = top). */
  layer: number;
  /** The layer's number: 1 = the bottom (the first dump), N = the top. */
  number: number;
  /** Pages this layer's own pagemap holds in its pages file (PE_PRESENT). */
  held: number;
  /** Pages this layer's pagemap takes from the layer below (PE_PARENT). */
  fromBelow: number;
  /** Pages this layer's pagemap marks lazy only (with the page server). */
  lazy: number;
  /** Pages of the final memory (read through the top) whose bytes come from this layer. */
  used: number;
}

export interface PagemapSummary {
  file: string;
  /** Layers the resolution looked at, from the top. */
  perLayer: LayerPages[];
  /** Pages whose bytes are in the images (read through the top). */
  dumpedPages: number;
  lazyPages: number;
  /** Number of runs of pages with one source. */
  extents: number;
}

export interface ProcessSummary {
  pid: number;
  ppid: number;
  /** tc.comm of core-<pid>.img, or null without one. */
  comm: string | null;
  threads: number[];
  /** pagemap-<pid>.img through the stack; null when the top layer has none (e.g. a zombie). */
  memory: PagemapSummary | null;
}

export interface ShmemSummary extends PagemapSummary {
  shmid: number;
  /** Pids with a VMA mapping this object. */
  mappedBy: number[];
}

export interface StackSummary {
  /** The top layer's name. */
  top: string;
  layers: LayerSummary[];
  processes: ProcessSummary[];
  shmem: ShmemSummary[];
  totals: {
    dumpedPages: number;
    lazyPages: number;
    pagesFileBytes: number;
    allocatedBytes: number | null;
  };
}

/** `layerCount`: the stack's layers (numbers count from its bottom). */
export function summarizePagemap(r: ResolvedPagemap, layerCount: number): PagemapSummary {
  const perLayer: LayerPages[] = [];
  for (let l = 0; l < r.depth; l++) {
    const c = r.perLayer[l]!;
    perLayer.push({
      layer: l,
      number: layerCount - l,
      held: c.presentPages,
      fromBelow: c.parentPages,
      lazy: c.lazyPages,
      used: c.resolvedPages,
    });
  }
  let dumped = 0;
  let lazy = 0;
  const x = r.extents;
  for (let i = 0; i < x.count; i++) {
    const n = x.end[i]! - x.start[i]!;
    if (x.layer[i] === LAZY) lazy += n;
    else dumped += n;
  }
  return { file: r.file, perLayer, dumpedPages: dumped, lazyPages: lazy, extents: x.count };
}

/** The layers' pages files: size and allocation. */
export async function summarizeLayers(stack: Stack): Promise<LayerSummary[]> {
  const out: LayerSummary[] = [];
  for (const layer of stack.layers) {
    const pagesFiles: PagesFileInfo[] = [];
    let size = 0;
    let allocated: number | null = 0;
    for (const file of layer.files) {
      if (!/^pages-.*\.img$/.test(file)) continue;
      const f = await layer.source.open(file);
      if (!f) continue;
      try {
        const a = f.allocated ?? null;
        pagesFiles.push({ file, size: f.size, allocated: a, holes: a !== null && a < f.size });
        size += f.size;
        allocated = a === null || allocated === null ? null : allocated + a;
      } finally {
        await f.close();
      }
    }
    const deduplicated = pagesFiles.some((p) => p.holes);
    let note: string | null = null;
    if (deduplicated) {
      note =
        layer.index > 0
          ? 'deduplicated: valid only under its children'
          : 'pages files have holes (punched pages read as zeros)';
    }
    out.push({
      index: layer.index,
      number: stack.layers.length - layer.index,
      name: layer.source.name,
      pagesFiles,
      size,
      allocated,
      deduplicated,
      note,
    });
  }
  return out;
}

export async function summarizeStack(stack: Stack): Promise<StackSummary> {
  const layers = await summarizeLayers(stack);
  const processes: ProcessSummary[] = [];
  const mappedBy = new Map<string, number[]>();
  let dumped = 0;
  let lazy = 0;
  for (const p of await stack.processes()) {
    const file = `pagemap-${p.pid}.img`;
    let memory: PagemapSummary | null = null;
    if (stack.top.files.includes(file)) {
      // opens (and checks) the pages files the memory needs: a missing or short one is an error
      memory = summarizePagemap((await stack.memory(file)).resolved, stack.layers.length);
      dumped += memory.dumpedPages;
      lazy += memory.lazyPages;
    }
    for (const v of await stack.vmas(p.pid)) {
      // a broken memfd chain is `verify`'s to report; the summary goes on without it
      const shm = await stack.shmemPagemapFor(v).catch((e: unknown) => {
        if (e instanceof StackError) return null;
        throw e;
      });
      if (!shm) continue;
      const list = mappedBy.get(shm) ?? [];
      if (!list.includes(p.pid)) list.push(p.pid);
      mappedBy.set(shm, list);
    }
    processes.push({
      pid: p.pid,
      ppid: p.ppid,
      comm: await stack.comm(p.pid),
      threads: [...p.threads],
      memory,
    });
  }
  const shmem: ShmemSummary[] = [];
  for (const file of stack.top.files) {
    const m = /^pagemap-shmem-(\d+)\.img$/.exec(file);
    if (!m) continue;
    const s = summarizePagemap((await stack.memory(file)).resolved, stack.layers.length);
    dumped += s.dumpedPages;
    lazy += s.lazyPages;
    shmem.push({ ...s, shmid: Number(m[1]), mappedBy: mappedBy.get(file) ?? [] });
  }
  shmem.sort((a, b) => a.shmid - b.shmid);
  let bytes = 0;
  let alloc: number | null = 0;
  for (const l of layers) {
    bytes += l.size;
    alloc = alloc === null || l.allocated === null ? null : alloc + l.allocated;
  }
  return {
    top: stack.top.source.name,
    layers,
    processes,
    shmem,
    totals: { dumpedPages: dumped, lazyPages: lazy, pagesFileBytes: bytes, allocatedBytes: alloc },
  };
}
