/**
 * `lazy-images`: the restore side's image directory for a lazy restore whose memory stays in a
 * stack (served by `pagestack page-server STACK --lazy`), what `criu dump --lazy-pages` leaves:
 *
 *   every image of the top layer except pagemaps, pages files and `parent` -> copied unchanged
 *   pagemap-<pid>.img: every page the stack holds for it (through PE_PARENT), flattened:
 *     lazy-able page  -> flags PE_LAZY (2), no data (the lazy-pages daemon GETs it)
 *     other page      -> flags PE_PRESENT (4), data in pages-<pages id>.img (restored eagerly)
 *   pagemap-shmem-*.img: all PE_PRESENT with data (shared memory is never registered with
 *     userfaultfd, CRIU restores it eagerly)
 *   no `parent`: a restore that found one would read PE_PARENT pages eagerly from local layers.
 *
 * A page is lazy-able iff its VMA (mm-<pid>.img) is MAP_PRIVATE|MAP_ANONYMOUS, neither MAP_LOCKED
 * nor MAP_HUGETLB, and not the vDSO/vvar/vsyscall (CRIU's vma_entry_can_be_lazy()). Entries are
 * maximal runs of equal flags in address order, split at VMA ends (pages_id: the top layer's, one
 * pages file per pagemap as CRIU writes them; compat_nr_pages 0 as CRIU 4.2).
 * A page the stack holds only as lazy (no data) stays lazy if lazy-able; otherwise it cannot be
 * restored and is an error.
 *
 * The engine's: the `lazy-images` op and `restore --lazy` both write it.
 */

import { StackError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE, PE_LAZY, PE_PRESENT } from '../image/pagemap.js';
import type { Vma } from '../stack/process.js';
import { LAZY } from '../stack/resolve.js';
import type { Stack } from '../stack/stack.js';
import { LayerWriter, PagemapEntries } from './layer-writer.js';

export interface LazyImagesResult {
  out: string;
  pagemaps: number;
  lazyPages: number;
  presentPages: number;
  entries: number;
}

const MAP_PRIVATE = 0x2;
const MAP_ANONYMOUS = 0x20;
const MAP_LOCKED = 0x2000;
const MAP_HUGETLB = 0x40000;
const VMA_AREA_VSYSCALL = 1 << 2;
const VMA_AREA_VDSO = 1 << 3;
const VMA_AREA_VVAR = 1 << 12;

export function vmaCanBeLazy(v: Vma): boolean {
  return (
    (v.flags & MAP_PRIVATE) !== 0 &&
    (v.flags & MAP_ANONYMOUS) !== 0 &&
    (v.flags & (MAP_LOCKED | MAP_HUGETLB)) === 0 &&
    (v.status & (VMA_AREA_VSYSCALL | VMA_AREA_VDSO | VMA_AREA_VVAR)) === 0
  );
}

const READ_PAGES = 256;

/**
 * Writes the lazy restore directory `out` for `stack` (opened by the caller, who closes it; any
 * LayerSource: a directory, an archive, an object store).
 */
export async function writeLazyImages(stack: Stack, out: string): Promise<LazyImagesResult> {
  const top = stack.top;
  const pagemaps = top.files.filter((f) => /^pagemap-.+\.img$/.test(f));
  const res: LazyImagesResult = { out, pagemaps: 0, lazyPages: 0, presentPages: 0, entries: 0 };
  const w = await LayerWriter.begin(out, { inputs: stack.layers.map((l) => l.source) });
  try {
    for (const pm of pagemaps) {
      const cols = await stack.pagemapColumns(pm, 0);
      if (!cols) continue;
      const mem = await stack.memory(pm);
      const pidMatch = /^pagemap-(\d+)\.img$/.exec(pm);
      const vmas = pidMatch ? await stack.vmas(Number(pidMatch[1])) : null;
      const entries = new PagemapEntries();
      const pages = await w.createPages(`pages-${cols.pagesId}.img`);
      const x = mem.extents;
      let vi = 0;
      for (let j = 0; j < x.count; j++) {
        let p = x.start[j]!;
        const end = x.end[j]!;
        while (p < end) {
          // the VMA holding page p (private pagemaps), and how far this run may go
          let stop = end;
          let lazy = false;
          let source = 0;
          if (vmas) {
            while (vi < vmas.length && vmas[vi]!.end <= p * PAGE_SIZE) vi++;
            const v = vmas[vi];
            if (!v || v.start > p * PAGE_SIZE) {
              throw new StackError(
                `${top.source.name}/${pm}: page ${hex(p * PAGE_SIZE)} lies in no VMA of mm`,
                'PAGESTACK_LAZY_IMAGES_NO_VMA',
                { file: `${top.source.name}/${pm}`, address: p * PAGE_SIZE },
              );
            }
            stop = Math.min(end, v.end / PAGE_SIZE);
            lazy = vmaCanBeLazy(v);
            source = vi;
          }
          const n = stop - p;
          if (lazy) {
            entries.push(source, p, n, PE_LAZY);
            res.lazyPages += n;
          } else {
            if (x.layer[j] === LAZY) {
              throw new StackError(
                `${top.source.name}/${pm}: page ${hex(p * PAGE_SIZE)} is lazy in the stack (no data) but not lazy-able`,
                'PAGESTACK_LAZY_IMAGES_NO_DATA',
                { file: `${top.source.name}/${pm}`, address: p * PAGE_SIZE },
              );
            }
            entries.push(source, p, n, PE_PRESENT);
            for (let q = p; q < stop; q += READ_PAGES) {
              const k = Math.min(READ_PAGES, stop - q);
              const data = await mem.read(q * PAGE_SIZE, k * PAGE_SIZE);
              await pages.append(data, 0, data.length);
            }
            res.presentPages += n;
          }
          p = stop;
        }
      }
      await pages.close();
      await w.writePagemap(pm, cols.pagesId, entries);
      res.entries += entries.count;
      res.pagemaps++;
    }
    const pagesFiles = new Set(top.files.filter((f) => /^pages-\d+\.img$/.test(f)));
    const rest = top.files.filter(
      (f) => f !== 'parent' && !pagemaps.includes(f) && !pagesFiles.has(f) && f !== 'lazy-pages.socket',
    );
    await w.copyLayerFiles(
      top.source,
      rest.filter((f) => /\.img$|^stats-dump$/.test(f)),
    );
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return res;
}
