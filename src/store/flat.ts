/**
 * A layer's flat index (see layout.ts): every run of every pagemap of the layer mapped straight to
 * the frame and offset of its bytes, through the whole stack. A new layer's index is built from
 * its own pagemaps and pages files (slices over frames) and its parent's index alone, so neither
 * building nor reading it ever walks further down, whatever the depth.
 *
 * Beside the index, the page-hash table: PAGE_HASH_BYTES per page of every data run, in index
 * order (maps sorted by file name, runs ascending). `hashAt` finds a page's hash in it.
 */
import { StoreError } from '../errors.js';
import { PAGE_SIZE, type PagemapColumns, PE_LAZY, PE_PARENT, PE_PRESENT } from '../image/pagemap.js';
import { partitionPoint } from '../stack/search.js';
import {
  type FlatIndexDoc,
  type FlatMap,
  type FrameRef,
  LAYOUT_VERSION,
  PAGE_HASH_BYTES,
  type PagesDesc,
} from './layout.js';

/** The lazy "frame" of a run without bytes. */
export const NO_FRAME = -1;

/** One map of an index in columns, with each run's first page in the hash table. */
export class FlatRuns {
  readonly pagesId: number;
  readonly count: number;
  readonly vpage: Float64Array;
  readonly nrPages: Float64Array;
  readonly flags: Uint32Array;
  readonly frame: Int32Array;
  readonly offset: Float64Array;
  /** Index of the run's first page in the page-hash table (data runs; lazy runs hold none). */
  readonly hashAt: Float64Array;

  constructor(m: FlatMap, firstHash: number) {
    const n = m.ext.length / 5;
    this.pagesId = m.pagesId;
    this.count = n;
    this.vpage = new Float64Array(n);
    this.nrPages = new Float64Array(n);
    this.flags = new Uint32Array(n);
    this.frame = new Int32Array(n);
    this.offset = new Float64Array(n);
    this.hashAt = new Float64Array(n);
    let h = firstHash;
    for (let i = 0; i < n; i++) {
      this.vpage[i] = m.ext[i * 5]!;
      this.nrPages[i] = m.ext[i * 5 + 1]!;
      this.flags[i] = m.ext[i * 5 + 2]!;
      this.frame[i] = m.ext[i * 5 + 3]!;
      this.offset[i] = m.ext[i * 5 + 4]!;
      this.hashAt[i] = h;
      if (this.frame[i]! !== NO_FRAME) h += this.nrPages[i]!;
    }
  }

  /** Pages with data (the hash table's share of this map). */
  get dataPages(): number {
    let s = 0;
    for (let i = 0; i < this.count; i++) if (this.frame[i]! !== NO_FRAME) s += this.nrPages[i]!;
    return s;
  }

  /** The run holding `page`, or -1. */
  find(page: number): number {
    const i = partitionPoint(0, this.count, (k) => this.vpage[k]! + this.nrPages[k]! <= page);
    return i < this.count && this.vpage[i]! <= page ? i : -1;
  }
}

/** A decoded flat index with its page-hash table. */
export class FlatIndex {
  readonly frames: readonly FrameRef[];
  readonly files: readonly string[];
  readonly maps: ReadonlyMap<string, FlatRuns>;
  /** The page-hash table (may be empty when only the index was fetched). */
  readonly hashes: Uint8Array;
  readonly dataPages: number;

  constructor(doc: FlatIndexDoc, hashes: Uint8Array | null, what: string) {
    this.frames = doc.frames;
    this.files = Object.keys(doc.maps).sort();
    const maps = new Map<string, FlatRuns>();
    let at = 0;
    for (const f of this.files) {
      const r = new FlatRuns(doc.maps[f]!, at);
      maps.set(f, r);
      at += r.dataPages;
    }
    this.maps = maps;
    this.dataPages = at;
    this.hashes = hashes ?? new Uint8Array(0);
    if (hashes !== null && hashes.length !== at * PAGE_HASH_BYTES) {
      throw new StoreError(
        `${what}: page hashes: ${hashes.length} bytes, expected ${at * PAGE_HASH_BYTES} (${PAGE_HASH_BYTES} per page of ${at})`,
        'PAGESTACK_STORE_CORRUPT',
      );
    }
  }

  /** The hash of page number `page` of `file`'s memory, or null when the index has no data for it. */
  pageHash(file: string, page: number): Uint8Array | null {
    const m = this.maps.get(file);
    if (!m) return null;
    const i = m.find(page);
    if (i < 0 || m.frame[i]! === NO_FRAME) return null;
    const h = (m.hashAt[i]! + page - m.vpage[i]!) * PAGE_HASH_BYTES;
    return this.hashes.subarray(h, h + PAGE_HASH_BYTES);
  }
}

/** One pagemap of the new layer, as decoded. */
export interface LayerPagemapInput {
  readonly file: string;
  readonly cols: PagemapColumns;
}

export interface BuildIndexInput {
  /** Name of the layer (for messages). */
  readonly what: string;
  readonly parent: FlatIndex | null;
  readonly pagemaps: readonly LayerPagemapInput[];
  /** The layer's pages files and the frames their slices name. */
  readonly pages: Readonly<Record<string, PagesDesc>>;
  readonly frames: readonly FrameRef[];
  /** Per pages file: PAGE_HASH_BYTES per page, in file order. */
  readonly ownHashes: ReadonlyMap<string, Uint8Array>;
}

/** Builds the flat index and page-hash table of a layer (see the file comment). */
export function buildIndex(inp: BuildIndexInput): {
  doc: FlatIndexDoc;
  hashes: Uint8Array;
  memoryPages: number;
} {
  const frames: FrameRef[] = [];
  const frameIds = new Map<string, number>();
  const frameId = (ref: FrameRef): number => {
    let id = frameIds.get(ref[0]);
    if (id === undefined) {
      id = frames.length;
      frames.push(ref);
      frameIds.set(ref[0], id);
    }
    return id;
  };
  const out: Record<string, FlatMap> = {};
  const hashParts: Uint8Array[] = [];
  let memoryPages = 0;
  const sorted = [...inp.pagemaps].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const { file, cols } of sorted) {
    const ext: number[] = [];
    const emit = (
      vpage: number,
      n: number,
      flags: number,
      frame: number,
      off: number,
      hash: Uint8Array | null,
    ) => {
      const k = ext.length - 5;
      if (
        k >= 0 &&
        ext[k]! + ext[k + 1]! === vpage &&
        ext[k + 2] === flags &&
        ext[k + 3] === frame &&
        (frame === NO_FRAME || ext[k + 4]! + ext[k + 1]! * PAGE_SIZE === off)
      ) {
        ext[k + 1]! += n;
      } else ext.push(vpage, n, flags, frame, off);
      if (hash) hashParts.push(hash);
      if (frame !== NO_FRAME) memoryPages += n;
    };
    const pagesName = `pages-${cols.pagesId}.img`;
    const desc = inp.pages[pagesName];
    const own = inp.ownHashes.get(pagesName);
    const starts = desc ? sliceStarts(desc) : null;
    const parentMap = inp.parent?.maps.get(file) ?? null;
    let filePos = 0;
    for (let e = 0; e < cols.count; e++) {
      const v = cols.vpage[e]!;
      const n = cols.nrPages[e]!;
      const f = cols.flags[e]!;
      if (f & PE_PRESENT) {
        if (!desc || !starts || !own || filePos + n * PAGE_SIZE > desc.size) {
          throw new StoreError(
            `${inp.what}: ${file}: entry ${e}: its pages lie beyond ${pagesName} (${desc?.size ?? 'missing'})`,
            'PAGESTACK_STORE_CORRUPT',
          );
        }
        // split the run where the pages file's slices (frames) change
        let page = 0;
        while (page < n) {
          const pos = filePos + page * PAGE_SIZE;
          const s = partitionPoint(0, starts.length, (k) => starts[k]! <= pos) - 1;
          const sliceEnd = starts[s]! + desc.slices[s * 3 + 2]!;
          const take = Math.min(n - page, Math.floor((sliceEnd - pos) / PAGE_SIZE));
          if (take <= 0 || (sliceEnd - pos) % PAGE_SIZE !== 0 || (pos - starts[s]!) % PAGE_SIZE !== 0) {
            throw new StoreError(
              `${inp.what}: ${pagesName}: slice ${s} is not cut at page boundaries`,
              'PAGESTACK_STORE_CORRUPT',
            );
          }
          const fr = inp.frames[desc.slices[s * 3]!]!;
          const hp = (pos / PAGE_SIZE) * PAGE_HASH_BYTES;
          emit(
            v + page,
            take,
            f,
            frameId(fr),
            desc.slices[s * 3 + 1]! + (pos - starts[s]!),
            own.subarray(hp, hp + take * PAGE_HASH_BYTES),
          );
          page += take;
        }
        filePos += n * PAGE_SIZE;
      } else if (f & PE_PARENT) {
        let page = v;
        const end = v + n;
        let i = parentMap ? parentMap.find(page) : -1;
        while (page < end) {
          if (!parentMap || i < 0 || i >= parentMap.count || parentMap.vpage[i]! > page) {
            throw new StoreError(
              `${inp.what}: ${file}: entry ${e}: page 0x${(page * PAGE_SIZE).toString(16)} is PE_PARENT, but the layer below does not hold it`,
              'PAGESTACK_MISSING_IN_PARENT',
            );
          }
          const runEnd = parentMap.vpage[i]! + parentMap.nrPages[i]!;
          const take = Math.min(end, runEnd) - page;
          const skip = page - parentMap.vpage[i]!;
          const pf = parentMap.frame[i]!;
          if (pf === NO_FRAME) emit(page, take, parentMap.flags[i]!, NO_FRAME, 0, null);
          else {
            const h = (parentMap.hashAt[i]! + skip) * PAGE_HASH_BYTES;
            emit(
              page,
              take,
              parentMap.flags[i]!,
              frameId(inp.parent!.frames[pf]!),
              parentMap.offset[i]! + skip * PAGE_SIZE,
              inp.parent!.hashes.subarray(h, h + take * PAGE_HASH_BYTES),
            );
          }
          page += take;
          i++;
        }
      } else if (f & PE_LAZY) {
        emit(v, n, f, NO_FRAME, 0, null);
      }
    }
    out[file] = { pagesId: cols.pagesId, ext };
  }
  const hashes = new Uint8Array(memoryPages * PAGE_HASH_BYTES);
  let p = 0;
  for (const h of hashParts) {
    hashes.set(h, p);
    p += h.length;
  }
  return {
    doc: { format: 'pagestack-index', version: LAYOUT_VERSION, frames, maps: out },
    hashes,
    memoryPages,
  };
}

/** Byte offset in the file where each slice starts. */
export function sliceStarts(desc: PagesDesc): Float64Array {
  const n = desc.slices.length / 3;
  const starts = new Float64Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    starts[i] = at;
    at += desc.slices[i * 3 + 2]!;
  }
  return starts;
}

/** Whether a file name is a pagemap (process or shmem). */
export function isPagemapFile(name: string): boolean {
  return /^pagemap-.+\.img$/.test(name);
}

/** Whether a file name is a pages file (raw page data, stored as frames). */
export function isPagesFile(name: string): boolean {
  return /^pages-\d+\.img$/.test(name);
}
