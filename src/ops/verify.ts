/**
 * `pagestack verify`: every invariant of a stack of image directories, checked without stopping
 * at the first problem.
 *
 *   chain      parent links lead to readable directories, no cycle, at most 256 layers
 *   images     every image file of every layer decodes (magics, framing, messages), and its
 *              magic fits its name
 *   pagemaps   entries sorted, not overlapping, known flags; the pages file is exactly
 *              PRESENT pages * 4096 bytes (shorter or longer are both errors); every PE_PARENT
 *              range resolves through the layers below (checked from every layer down)
 *   processes  pstree.img vs core-/mm-/pagemap- files (zombies have only a core), every thread
 *              has a core, private pagemap entries lie inside VMAs, every shared VMA's shmem
 *              pagemap exists
 *
 * A layer whose pages files have punched holes (`criu dedup`) is reported as a note: it is only
 * valid under its children, which is fine as long as the stack is read through the top.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEDUP_MARKER } from '../engine/layer-writer.js';
import { ImageFormatError, PagestackError, StackError } from '../errors.js';
import { hex } from '../format.js';
import { type CriuImage, decodeImage } from '../image/image.js';
import {
  decodePagemap,
  PAGE_SIZE,
  type PagemapColumns,
  PE_LAZY,
  PE_PARENT,
  PE_PRESENT,
} from '../image/pagemap.js';
import { coreView, pstreeEntry } from '../image/views.js';
import { DirLayerSource } from '../source/dir.js';
import { LAZY, type LayerPagemap, resolvePagemap } from '../stack/resolve.js';
import type { LayerSource } from '../stack/source.js';
import { type Layer, MAX_STACK_DEPTH, Stack } from '../stack/stack.js';
import { vmaIsPrivate } from '../stack/vma.js';

export type Severity = 'error' | 'warning' | 'note';

export interface Problem {
  severity: Severity;
  /** One line, starting with the file (or layer) it is about. */
  message: string;
}

export interface VerifyReport {
  top: string;
  /** Names of the layers reached, from the top. */
  layers: string[];
  processes: number;
  imagesDecoded: number;
  pagemaps: number;
  /** Through the top layer: pages whose bytes are in the images, and lazy pages. */
  dumpedPages: number;
  lazyPages: number;
  problems: Problem[];
  /** No errors (warnings and notes allowed). */
  ok: boolean;
}

export interface VerifyOptions {
  maxDepth?: number;
  /** Most problems reported per file for repeated entry-level faults (default 5). */
  perFileLimit?: number;
}

/** Which type magic an image file must have, by its name. */
const EXPECTED_MAGIC: readonly [RegExp, string][] = [
  [/^pagemap-.*\.img$/, 'PAGEMAP'],
  [/^core-\d+\.img$/, 'CORE'],
  [/^mm-\d+\.img$/, 'MM'],
  [/^pstree\.img$/, 'PSTREE'],
  [/^inventory\.img$/, 'INVENTORY'],
  [/^files\.img$/, 'FILES'],
  [/^memfd\.img$/, 'MEMFD_INODE'],
  [/^ids-\d+\.img$/, 'IDS'],
  [/^fs-\d+\.img$/, 'FS'],
  [/^fdinfo-\d+\.img$/, 'FDINFO'],
  [/^stats-(dump|restore)$/, 'STATS'],
];

const TASK_DEAD = 2;

class Collector {
  readonly problems: Problem[] = [];
  private readonly seen = new Set<string>();
  add(severity: Severity, message: string): void {
    const key = `${severity}\0${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.problems.push({ severity, message });
  }
  error(m: string): void {
    this.add('error', m);
  }
  warning(m: string): void {
    this.add('warning', m);
  }
  note(m: string): void {
    this.add('note', m);
  }
}

function describe(e: unknown, file: string): string {
  if (e instanceof ImageFormatError) return e.withFile(file).message;
  if (e instanceof PagestackError) return e.message;
  return `${file}: ${(e as Error)?.message ?? String(e)}`;
}

interface LayerData {
  layer: Layer;
  name: string;
  /** Decoded pagemaps (null: failed to decode). */
  pagemaps: Map<string, PagemapColumns | null>;
  /** Pagemap files whose entries are broken (unsorted, bad flags): not resolved further. */
  badPagemaps: Set<string>;
  images: Map<string, CriuImage>;
}

/** Verifies the stack whose top layer is `top`. Never throws for problems of the images. */
export async function verifyStack(top: LayerSource, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const maxDepth = opts.maxDepth ?? MAX_STACK_DEPTH;
  const limit = opts.perFileLimit ?? 5;
  const out = new Collector();

  // 1. the chain of parents
  const sources: LayerSource[] = [];
  const seen = new Map<string, string>();
  let chainBroken = false;
  let cur: LayerSource | null = top;
  while (cur) {
    const prev = seen.get(cur.id);
    if (prev !== undefined) {
      out.error(
        `${sources[sources.length - 1]!.name}: parent link leads back to ${prev}: the stack has a cycle`,
      );
      chainBroken = true;
      break;
    }
    if (sources.length >= maxDepth) {
      out.error(`${top.name}: the stack is deeper than ${maxDepth} layers`);
      chainBroken = true;
      break;
    }
    const here: LayerSource = cur;
    seen.set(here.id, here.name);
    sources.push(here);
    try {
      cur = await here.parent();
    } catch (e) {
      out.error(describe(e, `${here.name}/parent`));
      chainBroken = true;
      break;
    }
  }

  // 2. every image file of every layer
  const data: LayerData[] = [];
  let imagesDecoded = 0;
  for (let i = 0; i < sources.length; i++) {
    const src = sources[i]!;
    let files: string[];
    try {
      files = (await src.list()).sort();
    } catch (e) {
      out.error(describe(e, src.name));
      files = [];
    }
    const d: LayerData = {
      layer: { index: i, source: src, files },
      name: src.name,
      pagemaps: new Map(),
      badPagemaps: new Set(),
      images: new Map(),
    };
    data.push(d);
    for (const f of files) {
      if (f === 'parent' || /^pages-.*\.img$/.test(f)) continue;
      // CRIU writes a tmpfs mount's contents as a raw tar.gz (tmpfs-dev-N.tar.gz.img): no magic
      if (/\.tar\.gz\.img$/.test(f)) continue;
      if (!f.endsWith('.img') && !/^stats-(dump|restore)$/.test(f)) continue;
      const path = `${src.name}/${f}`;
      let buf: Uint8Array | null;
      try {
        buf = await src.readFile(f);
      } catch (e) {
        out.error(describe(e, path));
        continue;
      }
      if (!buf) continue;
      try {
        if (/^pagemap-.*\.img$/.test(f)) {
          d.pagemaps.set(f, decodePagemap(buf));
        } else {
          const img = decodeImage(buf);
          const want = EXPECTED_MAGIC.find(([re]) => re.test(f))?.[1];
          if (want && img.magic !== want) {
            out.error(
              `${path}: offset 4: the image magic is ${img.magic}, expected ${want} for this file name`,
            );
          }
          d.images.set(f, img);
        }
        imagesDecoded++;
      } catch (e) {
        if (/^pagemap-.*\.img$/.test(f)) d.pagemaps.set(f, null);
        out.error(describe(e, path));
      }
    }
    if (i === 0 && !files.includes('inventory.img')) {
      out.error(`${src.name}: no inventory.img: not a CRIU image directory`);
    }
  }

  // 3. pagemaps: entries and pages files
  for (let i = 0; i < data.length; i++) {
    const d = data[i]!;
    const byPagesFile = new Map<string, string>();
    // bytes each pages file's entries need: a file longer than that (an error of its own) is not
    // "deduplicated" for the holes past its end
    const needOf = new Map<string, number>();
    for (const [file, cols] of d.pagemaps) {
      if (!cols) continue;
      let present = 0;
      for (let j = 0; j < cols.count; j++) if (cols.flags[j]! & PE_PRESENT) present += cols.nrPages[j]!;
      needOf.set(`pages-${cols.pagesId}.img`, present * PAGE_SIZE);
      if (!checkEntries(cols, `${d.name}/${file}`, out, limit)) {
        d.badPagemaps.add(file);
      }
      const pagesName = `pages-${cols.pagesId}.img`;
      const other = byPagesFile.get(pagesName);
      if (other !== undefined) {
        out.error(`${d.name}/${file}: names ${pagesName}, which ${other} names too`);
      } else byPagesFile.set(pagesName, file);
      await checkPagesFile(d, file, cols, pagesName, out);
    }
    let holes = 0;
    let total = 0;
    for (const f of d.layer.files) {
      if (!/^pages-.*\.img$/.test(f)) continue;
      const undecoded = [...d.pagemaps.values()].some((c) => c === null);
      if (!byPagesFile.has(f) && !undecoded) out.warning(`${d.name}/${f}: no pagemap names this pages file`);
      try {
        const rf = await d.layer.source.open(f);
        if (!rf) continue;
        const need = needOf.get(f);
        // past `need`, holes are the length error's (checkPagesFile), at least as much as there is
        const span = need !== undefined && rf.size > need ? need : rf.size;
        if (rf.allocated !== undefined && rf.allocated < span) {
          holes += span - rf.allocated;
          total += span;
        }
        await rf.close();
      } catch (e) {
        out.error(describe(e, `${d.name}/${f}`));
      }
    }
    const dedupUnder = await dedupMarker(d.layer.source);
    const child = sources[i - 1];
    if (dedupUnder !== null && i === 0) {
      out.error(
        `${d.name}: was deduplicated under ${dedupUnder}: the pages dedup released for that child read as zeros; it is memory only as that child's parent, not as a top`,
      );
    } else if (dedupUnder !== null && child && dedupUnder !== child.id) {
      out.error(
        `${d.name}: was deduplicated under another child (${dedupUnder}), not under ${child.name}: pages ${child.name} needs from it may have been released and read as zeros`,
      );
    } else if (holes > 0) {
      if (i > 0) {
        out.note(
          `${d.name}: deduplicated (pages files have ${holes} of ${total} bytes punched out): valid only under its children, not as a snapshot on its own`,
        );
      } else {
        out.warning(
          `${d.name}: pages files have holes (${holes} of ${total} bytes not allocated): the top layer's punched pages read as zeros`,
        );
      }
    }
  }

  // 4. PE_PARENT ranges, resolved from every layer down
  let dumpedPages = 0;
  let lazyPages = 0;
  let pagemapCount = 0;
  if (chainBroken) {
    out.note(`${top.name}: PE_PARENT ranges were not resolved: the chain of parent layers is broken`);
  }
  for (let i = 0; i < data.length; i++) {
    for (const file of data[i]!.pagemaps.keys()) {
      if (i === 0) pagemapCount++;
      if (chainBroken) continue;
      const below = data.slice(i);
      if (below.some((d) => d.badPagemaps.has(file) || d.pagemaps.get(file) === null)) continue;
      const layers: LayerPagemap[] = below.map((d) => ({
        layerName: d.name,
        columns: d.pagemaps.get(file) ?? null,
      }));
      try {
        const r = resolvePagemap(file, layers);
        if (i === 0) {
          const x = r.extents;
          for (let k = 0; k < x.count; k++) {
            if (x.layer[k] === LAZY) lazyPages += x.end[k]! - x.start[k]!;
            else dumpedPages += x.end[k]! - x.start[k]!;
          }
        }
      } catch (e) {
        out.error(describe(e, `${data[i]!.name}/${file}`));
      }
    }
  }

  // 5. processes, in every layer that has a pstree.img (pre-dump layers have none)
  let processes = 0;
  for (let i = 0; i < data.length; i++) {
    const d = data[i]!;
    if (!d.layer.files.includes('pstree.img')) {
      if (i === 0) out.error(`${d.name}: no pstree.img: not a CRIU image directory`);
      continue;
    }
    const pstree = d.images.get('pstree.img');
    if (!pstree) continue; // did not decode: reported
    const n = await checkProcesses(data, i, pstree, out, limit);
    if (i === 0) processes = n;
  }

  const errors = out.problems.filter((p) => p.severity === 'error').length;
  return {
    top: top.name,
    layers: sources.map((s) => s.name),
    processes,
    imagesDecoded,
    pagemaps: pagemapCount,
    dumpedPages,
    lazyPages,
    problems: out.problems,
    ok: errors === 0,
  };
}

function entryAt(cols: PagemapColumns, i: number): string {
  return `entry ${i} at ${hex(cols.vpage[i]! * PAGE_SIZE)} (file offset ${cols.fileOffset[i]})`;
}

/** Sorted, non-overlapping, known flags, inside the address space. Returns false if unusable. */
function checkEntries(cols: PagemapColumns, path: string, out: Collector, limit: number): boolean {
  let prevEnd = -1;
  let bad = 0;
  let usable = true;
  let empty = 0;
  let firstEmpty = '';
  const report = (m: string): void => {
    if (bad < limit) out.error(`${path}: ${m}`);
    bad++;
  };
  for (let i = 0; i < cols.count; i++) {
    const s = cols.vpage[i]!;
    const n = cols.nrPages[i]!;
    const f = cols.flags[i]!;
    if (s < prevEnd) {
      report(
        `${entryAt(cols, i)} overlaps or precedes the entry before it (which ends at ${hex(prevEnd * PAGE_SIZE)}): entries must be sorted and not overlap`,
      );
      usable = false;
    }
    if ((f & (PE_PARENT | PE_PRESENT | PE_LAZY)) === 0 || (f & PE_PARENT && f & PE_PRESENT)) {
      report(`${entryAt(cols, i)} has invalid flags 0x${f.toString(16)}`);
      usable = false;
    } else if (f & ~(PE_PARENT | PE_PRESENT | PE_LAZY)) {
      report(
        `${entryAt(cols, i)} has unknown flag bits 0x${(f & ~7).toString(16)} (flags 0x${f.toString(16)})`,
      );
    }
    if (n === 0 && empty++ === 0) firstEmpty = entryAt(cols, i);
    if (s + n > 2 ** 52) {
      report(`${entryAt(cols, i)}: ${n} pages run past the end of the 64-bit address space`);
      usable = false;
    }
    prevEnd = Math.max(prevEnd, s + n);
  }
  if (bad > limit) out.error(`${path}: ... and ${bad - limit} more entry problems`);
  if (empty > 0) {
    out.warning(
      `${path}: ${firstEmpty} has no pages${empty > 1 ? ` (and ${empty - 1} more such entries)` : ''}`,
    );
  }
  return usable;
}

async function checkPagesFile(
  d: LayerData,
  file: string,
  cols: PagemapColumns,
  pagesName: string,
  out: Collector,
): Promise<void> {
  let present = 0;
  for (let i = 0; i < cols.count; i++) if (cols.flags[i]! & PE_PRESENT) present += cols.nrPages[i]!;
  const need = present * PAGE_SIZE;
  let f: Awaited<ReturnType<LayerSource['open']>>;
  try {
    f = await d.layer.source.open(pagesName);
  } catch (e) {
    out.error(describe(e, `${d.name}/${pagesName}`));
    return;
  }
  if (!f) {
    if (present > 0) {
      out.error(`${d.name}/${pagesName}: missing, but ${d.name}/${file} has ${present} pages in it`);
    }
    return;
  }
  const size = f.size;
  await f.close();
  if (size < need) {
    let off = 0;
    let at = 0;
    for (let i = 0; i < cols.count; i++) {
      if (!(cols.flags[i]! & PE_PRESENT)) continue;
      if (off + cols.nrPages[i]! * PAGE_SIZE > size) {
        at = cols.vpage[i]! * PAGE_SIZE;
        break;
      }
      off += cols.nrPages[i]! * PAGE_SIZE;
    }
    out.error(
      `${d.name}/${pagesName}: ${size} bytes, but ${file} needs ${need} (short at offset ${off}, the pages of 0x${at.toString(16)})`,
    );
  } else if (size > need) {
    out.error(
      `${d.name}/${pagesName}: ${size} bytes, but ${file} needs exactly ${need}: ${size - need} bytes at offset ${need} belong to no pagemap entry`,
    );
  }
}

/** pstree.img of layer i vs its core/mm/pagemap files, VMAs and shmem pagemaps. Returns the count. */
async function checkProcesses(
  data: LayerData[],
  i: number,
  pstree: CriuImage,
  out: Collector,
  limit: number,
): Promise<number> {
  const d = data[i]!;
  const files = new Set(d.layer.files);
  const name = d.name;
  const pids = new Set<number>();
  const tids = new Set<number>();
  if (pstree.entries.length === 0) out.error(`${name}/pstree.img: no processes`);
  pstree.entries.forEach((e, k) => {
    const { pid } = pstreeEntry(e);
    if (pids.has(pid)) out.error(`${name}/pstree.img: entry ${k}: pid ${pid} appears twice`);
    pids.add(pid);
  });
  // a stack whose top is this layer, for VMAs and shared memory lookups
  const sub = new Stack(
    data.slice(i).map((x, k) => ({ index: k, source: x.layer.source, files: x.layer.files })),
  );
  for (const [k, e] of pstree.entries.entries()) {
    const { pid, ppid, threads } = pstreeEntry(e);
    if (k > 0 && !pids.has(ppid)) {
      out.error(`${name}/pstree.img: process ${pid}: its parent ${ppid} is not in the tree`);
    }
    if (threads.length > 0 && !threads.includes(pid)) {
      out.error(`${name}/pstree.img: process ${pid}: its thread list (${threads.join(', ')}) lacks the pid`);
    }
    for (const t of threads) {
      if (tids.has(t)) out.error(`${name}/pstree.img: thread ${t} appears twice`);
      tids.add(t);
      if (!files.has(`core-${t}.img`)) {
        out.error(`${name}: no core-${t}.img for ${t === pid ? 'process' : `thread ${t} of process`} ${pid}`);
      }
    }
    if (threads.length === 0 && !files.has(`core-${pid}.img`)) {
      out.error(`${name}: no core-${pid}.img for process ${pid}`);
    }
    const core = d.images.get(`core-${pid}.img`);
    const coreEntry = core?.entries[0];
    const state = coreEntry ? coreView(coreEntry).taskState : 0;
    if (state === TASK_DEAD) continue; // a zombie has no memory
    for (const f of [`mm-${pid}.img`, `pagemap-${pid}.img`]) {
      if (!files.has(f)) out.error(`${name}: no ${f} for process ${pid}`);
    }
    const mm = d.images.get(`mm-${pid}.img`);
    if (!mm) continue;
    let vmas: Awaited<ReturnType<Stack['vmas']>>;
    try {
      vmas = await sub.vmas(pid);
    } catch (e) {
      out.error(describe(e, `${name}/mm-${pid}.img`));
      continue;
    }
    vmas.sort((a, b) => a.start - b.start);
    const priv: { start: number; end: number }[] = [];
    for (const v of vmas) {
      let shm: string | null;
      try {
        shm = await sub.shmemPagemapFor(v);
      } catch (e) {
        out.error(describe(e, `${name}/mm-${pid}.img`));
        continue;
      }
      // a shared object mapped MAP_PRIVATE holds the process's own copies too (stack/process.ts)
      if (shm === null || vmaIsPrivate(v)) priv.push(v);
      if (shm !== null && !files.has(shm)) {
        out.error(
          `${name}/mm-${pid}.img: the shared VMA ${hex(v.start)}-${hex(v.end)} of process ${pid} needs ${shm}, which is missing`,
        );
      }
    }
    const cols = d.pagemaps.get(`pagemap-${pid}.img`);
    if (cols && vmas.length > 0) checkInsideVmas(cols, priv, `${name}/pagemap-${pid}.img`, out, limit);
  }
  for (const f of files) {
    const m = /^pagemap-(\d+)\.img$/.exec(f);
    if (m && !pids.has(Number(m[1]))) {
      out.warning(`${name}/${f}: process ${m[1]} is not in pstree.img`);
    }
  }
  return pstree.entries.length;
}

/** Every entry's pages must lie in a private VMA (CRIU: "Page entry address ... outside of VMA"). */
function checkInsideVmas(
  cols: PagemapColumns,
  vmas: readonly { start: number; end: number }[],
  path: string,
  out: Collector,
  limit: number,
): void {
  let bad = 0;
  let k = 0;
  for (let i = 0; i < cols.count; i++) {
    let cur = cols.vpage[i]!;
    const end = cur + cols.nrPages[i]!;
    // entries are sorted when usable; restart the VMA scan otherwise
    if (k > 0 && vmas[k - 1] && vmas[k - 1]!.start / PAGE_SIZE > cur) k = 0;
    while (cur < end) {
      while (k < vmas.length && vmas[k]!.end / PAGE_SIZE <= cur) k++;
      const v = vmas[k];
      if (v && v.start / PAGE_SIZE <= cur) {
        cur = Math.min(end, v.end / PAGE_SIZE);
        continue;
      }
      const stop = Math.min(end, v ? v.start / PAGE_SIZE : end);
      if (bad < limit) {
        out.error(
          `${path}: entry ${i}: pages ${hex(cur * PAGE_SIZE)}-${hex(stop * PAGE_SIZE)} lie outside every private VMA of the process`,
        );
      }
      bad++;
      cur = stop;
    }
  }
  if (bad > limit) out.error(`${path}: ... and ${bad - limit} more ranges outside the VMAs`);
}

/** Throws the first error of a report as a StackError (for callers that want an exception). */
export function assertVerified(report: VerifyReport): void {
  const first = report.problems.find((p) => p.severity === 'error');
  if (first) throw new StackError(first.message);
}

/** The child a layer was deduplicated under (dedup's DEDUP_MARKER), for image directories. */
async function dedupMarker(src: LayerSource): Promise<string | null> {
  if (!(src instanceof DirLayerSource)) return null;
  try {
    return (await readFile(join(src.name, DEDUP_MARKER), 'utf8')).trim() || null;
  } catch {
    return null;
  }
}
