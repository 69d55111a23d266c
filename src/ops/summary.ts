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
import { PAGE_SIZE } from '../image/pagemap.js';
import { coreView, int, mmView } from '../image/views.js';
import { findExtent, LAZY, type ResolvedPagemap } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';
import {
  fileNames,
  MAP_GROWSDOWN,
  VMA_ANON_SHARED,
  VMA_AREA_HEAP,
  VMA_AREA_STACK,
  VMA_AREA_SYSVIPC,
  VMA_AREA_VDSO,
  VMA_AREA_VSYSCALL,
  VMA_AREA_VVAR,
  VMA_FILE_BACKED,
  vmaPerms,
} from '../stack/vma.js';

export interface PagesFileInfo {
  file: string;
  size: number;
  /** Bytes on disk (st_blocks * 512), or null when the source does not say. */
  allocated: number | null;
  /** allocated < size: punched holes (or a compressing filesystem). */
  holes: boolean;
}

export interface LayerSummary {
  index: number;
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
  layer: number;
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

export function summarizePagemap(r: ResolvedPagemap): PagemapSummary {
  const perLayer: LayerPages[] = [];
  for (let l = 0; l < r.depth; l++) {
    const c = r.perLayer[l]!;
    perLayer.push({
      layer: l,
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

/** tc.comm of core-<pid>.img in the top layer, or null. */
export async function processComm(stack: Stack, pid: number): Promise<string | null> {
  if (!stack.top.files.includes(`core-${pid}.img`)) return null;
  const core = (await stack.image(`core-${pid}.img`))?.entries[0];
  return core ? coreView(core).comm : null;
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
      memory = summarizePagemap((await stack.memory(file)).resolved);
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
      comm: await processComm(stack, p.pid),
      threads: [...p.threads],
      memory,
    });
  }
  const shmem: ShmemSummary[] = [];
  for (const file of stack.top.files) {
    const m = /^pagemap-shmem-(\d+)\.img$/.exec(file);
    if (!m) continue;
    const s = summarizePagemap((await stack.memory(file)).resolved);
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

// ---------------------------------------------------------------------------------------------
// maps: a process's VMAs with where their pages are

/** A run of pages with one source, in the process's addresses. */
export interface MapsExtent {
  /** First byte address and end (exclusive). */
  start: number;
  end: number;
  /** Layer index holding the bytes, or -1 for lazy pages. */
  layer: number;
  /** Byte offset in that layer's pages file (0 for lazy). */
  fileOffset: number;
}

export interface VmaPages {
  start: number;
  end: number;
  /** As /proc/PID/maps: "rw-p". */
  perms: string;
  /** vma.pgoff: the byte offset into the mapped file or shared object. */
  offset: number;
  /** Mapped file, [heap], [stack], [vdso], ... or "" for anonymous memory. */
  name: string;
  /** The shmem pagemap behind a shared anonymous VMA (the pages below are counted there). */
  shmem: string | null;
  pages: number;
  dumped: number;
  lazy: number;
  notDumped: number;
  /** Dumped pages by the layer holding them. */
  layers: { layer: number; pages: number }[];
  extents: MapsExtent[];
}

export interface ProcessMaps {
  pid: number;
  comm: string | null;
  layerNames: string[];
  /** Sorted by start; without the vsyscall page, which the kernel provides (see `vsyscall`). */
  vmas: VmaPages[];
  /** The vsyscall VMA as "start-end" in hex (beyond 2^53), if the mm image has one. */
  vsyscall: string | null;
  /** Pagemap pages no VMA covers (CRIU cannot restore these). */
  outside: MapsExtent[];
  totals: { pages: number; dumped: number; lazy: number; notDumped: number; outside: number };
}

/** Pages of `x` within pages [s, e), shifted by `shift` pages into process addresses. */
function collect(
  x: ResolvedPagemap['extents'],
  s: number,
  e: number,
  shift: number,
  into: { dumped: number; lazy: number; layers: Map<number, number>; extents: MapsExtent[] },
): void {
  let i = findExtent(x, s);
  for (; i < x.count && x.start[i]! < e; i++) {
    const a = Math.max(s, x.start[i]!);
    const b = Math.min(e, x.end[i]!);
    if (a >= b) continue;
    const layer = x.layer[i]!;
    const n = b - a;
    if (layer === LAZY) into.lazy += n;
    else {
      into.dumped += n;
      into.layers.set(layer, (into.layers.get(layer) ?? 0) + n);
    }
    into.extents.push({
      start: (a + shift) * PAGE_SIZE,
      end: (b + shift) * PAGE_SIZE,
      layer,
      fileOffset: layer === LAZY ? 0 : x.offset[i]! + (a - x.start[i]!) * PAGE_SIZE,
    });
  }
}

function vmaName(
  v: { status: number; flags: number; shmid: number },
  files: Map<number, string>,
  shmem: string | null,
): string {
  const st = v.status;
  if (st & VMA_AREA_VSYSCALL) return '[vsyscall]';
  if (st & VMA_AREA_VDSO) return '[vdso]';
  if (st & VMA_AREA_VVAR) return '[vvar]';
  if (st & VMA_AREA_HEAP) return '[heap]';
  if (st & VMA_AREA_SYSVIPC) return `[sysvipc shmid ${v.shmid}]`;
  if (st & VMA_FILE_BACKED) {
    const n = files.get(v.shmid);
    if (n !== undefined) return n;
    return `[file id ${v.shmid}]`;
  }
  if (st & VMA_ANON_SHARED) return `[shmem ${shmem ?? v.shmid}]`;
  if (st & VMA_AREA_STACK || v.flags & MAP_GROWSDOWN) return '[stack]';
  return '';
}

/** A process's VMAs (as /proc/PID/maps) with, for each, its dumped, lazy and missing pages. */
export async function processMaps(stack: Stack, pid: number): Promise<ProcessMaps> {
  const vmas = await stack.vmas(pid);
  vmas.sort((a, b) => a.start - b.start);
  const files = await fileNames(stack);
  const privFile = `pagemap-${pid}.img`;
  const priv = stack.top.files.includes(privFile) ? await stack.resolve(privFile) : null;
  const out: VmaPages[] = [];
  const totals = { pages: 0, dumped: 0, lazy: 0, notDumped: 0, outside: 0 };
  for (const v of vmas) {
    const shmem = await stack.shmemPagemapFor(v);
    const acc = { dumped: 0, lazy: 0, layers: new Map<number, number>(), extents: [] as MapsExtent[] };
    const s = v.start / PAGE_SIZE;
    const e = v.end / PAGE_SIZE;
    if (shmem) {
      if (stack.top.files.includes(shmem)) {
        const r = await stack.resolve(shmem);
        const o = v.pgoff / PAGE_SIZE;
        collect(r.extents, o, o + (e - s), s - o, acc);
      }
    } else if (priv) collect(priv.extents, s, e, 0, acc);
    const pages = e - s;
    const row: VmaPages = {
      start: v.start,
      end: v.end,
      perms: vmaPerms(v.prot, v.flags),
      offset: v.pgoff,
      name: vmaName(v, files, shmem),
      shmem,
      pages,
      dumped: acc.dumped,
      lazy: acc.lazy,
      notDumped: pages - acc.dumped - acc.lazy,
      layers: [...acc.layers.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([layer, p]) => ({ layer, pages: p })),
      extents: acc.extents,
    };
    totals.pages += pages;
    totals.dumped += row.dumped;
    totals.lazy += row.lazy;
    totals.notDumped += row.notDumped;
    out.push(row);
  }
  // private pagemap pages outside every private VMA
  const outside: MapsExtent[] = [];
  if (priv) {
    const x = priv.extents;
    const privVmas = vmas.filter((_v, i) => out[i]!.shmem === null);
    let k = 0;
    for (let i = 0; i < x.count; i++) {
      let cur = x.start[i]!;
      const end = x.end[i]!;
      while (cur < end) {
        while (k < privVmas.length && privVmas[k]!.end / PAGE_SIZE <= cur) k++;
        const v = privVmas[k];
        const vs = v ? v.start / PAGE_SIZE : Number.POSITIVE_INFINITY;
        if (vs <= cur) {
          cur = Math.min(end, v!.end / PAGE_SIZE);
          continue;
        }
        const stop = Math.min(end, vs);
        const layer = x.layer[i]!;
        outside.push({
          start: cur * PAGE_SIZE,
          end: stop * PAGE_SIZE,
          layer,
          fileOffset: layer === LAZY ? 0 : x.offset[i]! + (cur - x.start[i]!) * PAGE_SIZE,
        });
        totals.outside += stop - cur;
        cur = stop;
      }
    }
  }
  let vsyscall: string | null = null;
  const mm = stack.top.files.includes(`mm-${pid}.img`) ? await stack.image(`mm-${pid}.img`) : null;
  const mmEntry = mm?.entries[0];
  for (const m of mmEntry ? mmView(mmEntry).vmas : []) {
    if (int(m['status']) & VMA_AREA_VSYSCALL) {
      vsyscall = `${BigInt(m['start'] as bigint).toString(16)}-${BigInt(m['end'] as bigint).toString(16)}`;
    }
  }
  return {
    pid,
    comm: await processComm(stack, pid),
    layerNames: stack.layers.map((l) => l.source.name),
    vmas: out,
    vsyscall,
    outside,
    totals,
  };
}
