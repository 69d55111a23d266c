/**
 * Resolving a pagemap through a stack of snapshots.
 *
 * Each layer (image directory) has its own `pagemap-<pid>.img` and `pages-<id>.img`. An entry
 * either holds its pages in this layer's pages file (PE_PRESENT), says they are one layer down
 * (PE_PARENT), or that a page server has them (PE_LAZY alone). PRESENT pages lie back to back in
 * the pages file in pagemap order, so an entry's file offset is the count of PRESENT pages before
 * it, times 4096.
 *
 *            vaddr ->  0x1000      0x5000      0x9000
 *   layer 0 (top)     |P P|. . . . . .|L L|P P|          P present here   . in parent
 *                        \    |                          L lazy           (gap) not dumped
 *   layer 1           |P P P|. . .|P P P P|
 *                             |
 *   layer 2 (bottom)  |P P P P P P P P P P P P|
 *
 *   result (extents)  [0,2)->L0@0  [2,3)->L1@8K  [3,6)->L2@12K  [6,8)->L1@12K  [8,10) lazy ...
 *
 * A PE_PARENT range may span several parent entries (and gaps between them are an error: CRIU
 * says "Missing <addr> in parent pagemap"), and may be PE_PARENT again further down.
 *
 * Cost: one pass per layer over the ranges still unresolved, with a binary search into that
 * layer's sorted entries per range; then one sort of the extents. O(E log E) for E entries over
 * all layers; memory proportional to extents, never to pages.
 */

import { StackError } from '../errors.js';
import { hex } from '../format.js';
import { PAGE_SIZE, type PagemapColumns, PE_LAZY, PE_PARENT, PE_PRESENT } from '../image/pagemap.js';
import { partitionPoint } from './search.js';

/** Extent kinds besides a layer index (>= 0). */
export const LAZY = -1;

/** Sorted, non-overlapping runs of pages with where their bytes are. */
export interface Extents {
  readonly count: number;
  /** First page number of each extent. */
  readonly start: Float64Array;
  /** Page number after the last page. */
  readonly end: Float64Array;
  /** Layer index (0 = top) holding the bytes, or LAZY. */
  readonly layer: Int32Array;
  /** Byte offset of the extent's first page in that layer's pages file (0 for lazy). */
  readonly offset: Float64Array;
}

/** One layer's view of the pagemap being resolved. */
export interface LayerPagemap {
  /** The layer's name (its directory), for messages. */
  readonly layerName: string;
  /** The pagemap in this layer, or null when this layer has no file of that name. */
  readonly columns: PagemapColumns | null;
}

/** Per-layer page counts of one resolved pagemap. */
export interface LayerPageCounts {
  /** Pages of the final memory whose bytes are in this layer. */
  resolvedPages: number;
  /** In this layer's own pagemap: pages present / in parent / lazy. */
  presentPages: number;
  parentPages: number;
  lazyPages: number;
}

export interface ResolvedPagemap {
  readonly file: string;
  readonly extents: Extents;
  readonly perLayer: LayerPageCounts[];
  /** Number of layers looked at (the resolution stops at the deepest layer it needed). */
  readonly depth: number;
}

/**
 * Checks a layer's entries are sorted and non-overlapping, with known flags, and returns each
 * entry's byte offset in the pages file. Throws StackError naming the layer and entry.
 */
export function entryOffsets(cols: PagemapColumns, layerName: string, file: string): Float64Array {
  const off = new Float64Array(cols.count);
  let pos = 0;
  let prevEnd = -1;
  for (let i = 0; i < cols.count; i++) {
    const s = cols.vpage[i]!;
    const n = cols.nrPages[i]!;
    const f = cols.flags[i]!;
    if (s < prevEnd) {
      throw new StackError(
        `${layerName}/${file}: entry ${i} at ${hex(s * PAGE_SIZE)} overlaps or precedes the entry before it (which ends at ${hex(prevEnd * PAGE_SIZE)}): entries must be sorted and not overlap`,
        'PAGESTACK_PAGEMAP_ORDER',
        { file: `${layerName}/${file}`, address: s * PAGE_SIZE },
      );
    }
    if ((f & (PE_PARENT | PE_PRESENT | PE_LAZY)) === 0 || (f & PE_PARENT && f & PE_PRESENT)) {
      throw new StackError(
        `${layerName}/${file}: entry ${i} at ${hex(s * PAGE_SIZE)} has invalid flags 0x${f.toString(16)}`,
        'PAGESTACK_PAGEMAP_FLAGS',
        { file: `${layerName}/${file}`, address: s * PAGE_SIZE, flags: f },
      );
    }
    prevEnd = s + n;
    off[i] = pos;
    if (f & PE_PRESENT) pos += n * PAGE_SIZE;
  }
  return off;
}

/** Growable sorted page ranges [s, e); a range that continues the last one extends it. */
class RangeList {
  count = 0;
  s: Float64Array = new Float64Array(256);
  e: Float64Array = new Float64Array(256);

  add(s: number, e: number): void {
    const last = this.count - 1;
    if (last >= 0 && this.e[last] === s) {
      this.e[last] = e;
      return;
    }
    if (this.count === this.s.length) {
      const ns = new Float64Array(this.count * 2);
      const ne = new Float64Array(this.count * 2);
      ns.set(this.s);
      ne.set(this.e);
      this.s = ns;
      this.e = ne;
    }
    this.s[this.count] = s;
    this.e[this.count] = e;
    this.count++;
  }
}

/** Growable extent columns, appended in runs that are each sorted by start (one run per layer). */
class ExtentBuilder {
  count = 0;
  start: Float64Array = new Float64Array(1024);
  end: Float64Array = new Float64Array(1024);
  layer: Int32Array = new Int32Array(1024);
  offset: Float64Array = new Float64Array(1024);
  /** Where each sorted run begins. */
  readonly runs: number[] = [0];

  push(s: number, e: number, layer: number, off: number): void {
    if (this.count === this.start.length) this.grow();
    const k = this.count++;
    this.start[k] = s;
    this.end[k] = e;
    this.layer[k] = layer;
    this.offset[k] = off;
  }

  /** What is pushed next starts a new sorted run. */
  newRun(): void {
    if (this.count > this.runs[this.runs.length - 1]!) this.runs.push(this.count);
  }

  private grow(): void {
    const n = this.start.length * 2;
    const f64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.start = f64(this.start);
    this.end = f64(this.end);
    this.offset = f64(this.offset);
    const l = new Int32Array(n);
    l.set(this.layer);
    this.layer = l;
  }
}

/**
 * Resolves one pagemap file through the layers (index 0 = top). `layers` must hold every layer
 * of the stack in order; only as many as the PE_PARENT chains need are looked at.
 */
export function resolvePagemap(file: string, layers: readonly LayerPagemap[]): ResolvedPagemap {
  const perLayer: LayerPageCounts[] = layers.map(() => ({
    resolvedPages: 0,
    presentPages: 0,
    parentPages: 0,
    lazyPages: 0,
  }));
  const out = new ExtentBuilder();
  const top = layers[0];
  if (!top?.columns) {
    return { file, extents: finish(out), perLayer, depth: layers.length > 0 ? 1 : 0 };
  }
  // Pending ranges for the next layer down, sorted (they come out of a sorted walk).
  let pend = new RangeList();
  {
    const cols = top.columns;
    const offs = entryOffsets(cols, top.layerName, file);
    const counts = perLayer[0]!;
    for (let i = 0; i < cols.count; i++) {
      const s = cols.vpage[i]!;
      const n = cols.nrPages[i]!;
      if (n === 0) continue;
      const f = cols.flags[i]!;
      if (f & PE_PARENT) {
        counts.parentPages += n;
        pend.add(s, s + n);
      } else if (f & PE_PRESENT) {
        counts.presentPages += n;
        counts.resolvedPages += n;
        out.push(s, s + n, 0, offs[i]!);
      } else {
        counts.lazyPages += n;
        out.push(s, s + n, LAZY, 0);
      }
    }
  }
  let depth = 1;
  for (let L = 1; pend.count > 0; L++) {
    const below = layers[L];
    const above = layers[L - 1]!;
    if (!below) {
      throw new StackError(
        `${above.layerName}/${file}: pages ${hex(pend.s[0]! * PAGE_SIZE)}-${hex(pend.e[0]! * PAGE_SIZE)} are marked PE_PARENT but ${above.layerName} has no parent layer`,
        'PAGESTACK_NO_PARENT_LAYER',
        { file: `${above.layerName}/${file}`, layer: above.layerName, address: pend.s[0]! * PAGE_SIZE },
      );
    }
    if (!below.columns) {
      throw new StackError(
        `${above.layerName}/${file}: pages ${hex(pend.s[0]! * PAGE_SIZE)}-${hex(pend.e[0]! * PAGE_SIZE)} are marked PE_PARENT but the parent layer ${below.layerName} has no ${file}`,
        'PAGESTACK_PARENT_NO_PAGEMAP',
        { file: `${above.layerName}/${file}`, layer: below.layerName, address: pend.s[0]! * PAGE_SIZE },
      );
    }
    depth = L + 1;
    out.newRun();
    const cols = below.columns;
    const offs = entryOffsets(cols, below.layerName, file);
    const counts = perLayer[L]!;
    for (let i = 0; i < cols.count; i++) {
      const f = cols.flags[i]!;
      const n = cols.nrPages[i]!;
      if (f & PE_PARENT) counts.parentPages += n;
      else if (f & PE_PRESENT) counts.presentPages += n;
      else counts.lazyPages += n;
    }
    const next = new RangeList();
    // ranges and entries are both sorted: one forward walk over the entries serves all ranges
    let j = 0;
    for (let r = 0; r < pend.count; r++) {
      let cur = pend.s[r]!;
      const e = pend.e[r]!;
      while (j < cols.count && cols.vpage[j]! + cols.nrPages[j]! <= cur) j++;
      while (cur < e) {
        const es = j < cols.count ? cols.vpage[j]! : Number.POSITIVE_INFINITY;
        if (es > cur) {
          throw new StackError(
            `${above.layerName}/${file}: missing ${hex(cur * PAGE_SIZE)}-${hex(Math.min(e, es) * PAGE_SIZE)} in parent pagemap ${below.layerName}/${file} (marked PE_PARENT above)`,
            'PAGESTACK_MISSING_IN_PARENT',
            { file: `${above.layerName}/${file}`, layer: below.layerName, address: cur * PAGE_SIZE },
          );
        }
        const ee = es + cols.nrPages[j]!;
        const pe = Math.min(e, ee);
        const f = cols.flags[j]!;
        if (f & PE_PARENT) {
          next.add(cur, pe);
        } else if (f & PE_PRESENT) {
          counts.resolvedPages += pe - cur;
          out.push(cur, pe, L, offs[j]! + (cur - es) * PAGE_SIZE);
        } else {
          out.push(cur, pe, LAZY, 0);
        }
        cur = pe;
        if (pe === ee) j++;
      }
    }
    pend = next;
  }
  return { file, extents: finish(out), perLayer, depth };
}

/**
 * The order of the extents by start. Each run of the builder is sorted already (a layer's extents
 * come out of a sorted walk), so the runs are merged pairwise: O(n log runs), no comparator sort.
 */
function sortedOrder(b: ExtentBuilder): Uint32Array {
  const n = b.count;
  const st = b.start;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let runs = [...b.runs, n];
  for (let r = 0; r + 1 < runs.length; r++) {
    for (let i = runs[r]! + 1; i < runs[r + 1]!; i++) {
      if (st[i]! < st[i - 1]!) {
        // not sorted within a run (cannot happen for valid input): sort outright
        return order.sort((x, y) => st[x]! - st[y]!);
      }
    }
  }
  // merge (start, index) pairs so that the merge reads both sequentially
  let keys = st.slice(0, n);
  let tmp = new Uint32Array(n);
  let tmpKeys = new Float64Array(n);
  while (runs.length > 2) {
    const next = [0];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      const lo = runs[r]!;
      const mid = runs[r + 1]!;
      const hi = r + 2 < runs.length ? runs[r + 2]! : mid;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (keys[i]! <= keys[j]!) {
          tmpKeys[k] = keys[i]!;
          tmp[k++] = order[i++]!;
        } else {
          tmpKeys[k] = keys[j]!;
          tmp[k++] = order[j++]!;
        }
      }
      for (; i < mid; i++, k++) {
        tmpKeys[k] = keys[i]!;
        tmp[k] = order[i]!;
      }
      for (; j < hi; j++, k++) {
        tmpKeys[k] = keys[j]!;
        tmp[k] = order[j]!;
      }
      next.push(hi);
    }
    if (next[next.length - 1] !== n) next.push(n);
    [order, tmp] = [tmp, order];
    [keys, tmpKeys] = [tmpKeys, keys];
    runs = next;
  }
  return order;
}

/** Sorts extents by start and merges neighbours that continue each other in the same file. */
function finish(b: ExtentBuilder): Extents {
  const n = b.count;
  const order = sortedOrder(b);
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const layer = new Int32Array(n);
  const offset = new Float64Array(n);
  let k = -1;
  for (let t = 0; t < n; t++) {
    const i = order[t]!;
    const s = b.start[i]!;
    const e = b.end[i]!;
    const l = b.layer[i]!;
    const o = b.offset[i]!;
    if (
      k >= 0 &&
      end[k] === s &&
      layer[k] === l &&
      (l === LAZY || offset[k]! + (end[k]! - start[k]!) * PAGE_SIZE === o)
    ) {
      end[k] = e;
      continue;
    }
    k++;
    start[k] = s;
    end[k] = e;
    layer[k] = l;
    offset[k] = o;
  }
  const count = k + 1;
  return {
    count,
    start: start.subarray(0, count),
    end: end.subarray(0, count),
    layer: layer.subarray(0, count),
    offset: offset.subarray(0, count),
  };
}

/** Index of the first extent whose end is above `page`, or `count` if none. */
export function findExtent(x: Extents, page: number): number {
  return partitionPoint(0, x.count, (i) => x.end[i]! <= page);
}

/**
 * Pages [s, e) cut where `x` holds pages (dumped or lazy) and where it does not: sorted,
 * non-overlapping ranges covering [s, e) exactly, each `held` or not, neighbours of one kind
 * merged. The private-over-shared rule (process.ts) splits a VMA with it.
 */
export function splitByExtents(x: Extents, s: number, e: number): { s: number; e: number; held: boolean }[] {
  const out: { s: number; e: number; held: boolean }[] = [];
  const push = (a: number, b: number, held: boolean): void => {
    if (b <= a) return;
    const last = out[out.length - 1];
    if (last && last.held === held && last.e === a) last.e = b;
    else out.push({ s: a, e: b, held });
  };
  let cur = s;
  for (let i = findExtent(x, s); i < x.count && cur < e; i++) {
    const es = x.start[i]!;
    if (es >= e) break;
    push(cur, es, false);
    cur = Math.max(cur, es);
    const stop = Math.min(e, x.end[i]!);
    push(cur, stop, true);
    cur = Math.max(cur, stop);
  }
  push(cur, e, false);
  return out;
}
