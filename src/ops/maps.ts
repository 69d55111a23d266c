/**
 * A process's VMAs as in /proc/PID/maps (`pagestack maps`), each with its dumped pages (and the
 * layers holding them), lazy pages and pages not dumped, and the pagemap pages outside every VMA.
 */
import { PAGE_SIZE } from '../image/pagemap.js';
import { int, mmView } from '../image/views.js';
import { findExtent, LAZY, type ResolvedPagemap, splitByExtents } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';
import { fileNames, VMA_AREA_VSYSCALL, vmaIsPrivate, vmaName, vmaPerms } from '../stack/vma.js';

/** A run of pages with one source, in the process's addresses. */
export interface MapsExtent {
  /** First byte address and end (exclusive). */
  start: number;
  end: number;
  /** Layer index holding the bytes, or -1 for lazy pages. */
  layer: number;
  /** Byte offset in that layer's pages file (0 for lazy). */
  fileOffset: number;
  /** The pagemap holding these pages: `pagemap-<pid>.img` or a `pagemap-shmem-<id>.img`. */
  pagemap: string;
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
  /** The shmem pagemap behind a shared VMA (memfd or shared anonymous memory), or null. */
  shmem: string | null;
  /**
   * Pages of a shared object mapped MAP_PRIVATE that come from the process's own pagemap (its
   * copies win over the object's; the rest are the object's); 0 for other VMAs.
   */
  privatePages: number;
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
  /** Pagemap pages no private VMA covers (CRIU cannot restore these). */
  outside: MapsExtent[];
  totals: { pages: number; dumped: number; lazy: number; notDumped: number; outside: number };
}

/** Pages of `x` within pages [s, e), shifted by `shift` pages into process addresses. */
function collect(
  r: ResolvedPagemap,
  s: number,
  e: number,
  shift: number,
  into: { dumped: number; lazy: number; layers: Map<number, number>; extents: MapsExtent[] },
): void {
  const x = r.extents;
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
      pagemap: r.file,
    });
  }
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
    let privatePages = 0;
    if (shmem) {
      const obj = stack.top.files.includes(shmem) ? await stack.resolve(shmem) : null;
      const o = v.pgoff / PAGE_SIZE;
      // a shared object mapped MAP_PRIVATE: the process's own pages win (stack/process.ts)
      const parts = priv && vmaIsPrivate(v) ? splitByExtents(priv.extents, s, e) : [{ s, e, held: false }];
      for (const p of parts) {
        if (p.held) {
          const before = acc.dumped + acc.lazy;
          collect(priv!, p.s, p.e, 0, acc);
          privatePages += acc.dumped + acc.lazy - before;
        } else if (obj) collect(obj, p.s - s + o, p.e - s + o, s - o, acc);
      }
    } else if (priv) collect(priv, s, e, 0, acc);
    const pages = e - s;
    const row: VmaPages = {
      start: v.start,
      end: v.end,
      perms: vmaPerms(v.prot, v.flags),
      offset: v.pgoff,
      name: vmaName(v, files, shmem),
      shmem,
      privatePages,
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
    const privVmas = vmas.filter((v, i) => out[i]!.shmem === null || vmaIsPrivate(v));
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
          pagemap: privFile,
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
    comm: await stack.comm(pid),
    layerNames: stack.layers.map((l) => l.source.name),
    vmas: out,
    vsyscall,
    outside,
    totals,
  };
}
