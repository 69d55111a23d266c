/**
 * `squash`: one image directory holding what a whole stack (or the part of it above some layer)
 * holds.
 *
 *   stack of TOP:   L0 (top) |P .|. . .|L|       squash TOP            |P P|P P P|L|   no parent
 *                   L1       |P P|P . P|         squash TOP --keep-below L2:
 *                   L2       |P P P P P|                               |P P|P . P|L|   parent -> L2
 *
 * Every pagemap of TOP is flattened entry by entry: PE_PARENT ranges are replaced by the pages of
 * the layers that hold them, written as PRESENT entries with the flags of the holding entry (6, 4,
 * ...); lazy stays lazy. With --keep-below, ranges that resolve at or below that layer stay
 * PE_PARENT. The split into entries follows TOP's own entries (a range is never merged across two
 * of them), cut wherever the holding layer or its flags change. Other images are copied from TOP.
 *
 * `flattenPagemap` is also what `delta` uses to read its CHILD.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { PAGE_SIZE, type PagemapColumns, PE_LAZY, PE_PARENT, PE_PRESENT } from '../image/pagemap.js';
import { openStackDir } from '../open.js';
import { StackError } from '../stack/errors.js';
import {
  type Extents,
  findExtent,
  LAZY,
  type LayerPagemap,
  type ResolvedPagemap,
  resolvePagemap,
} from '../stack/resolve.js';
import type { RandomAccessFile } from '../stack/source.js';
import type { Stack } from '../stack/stack.js';
import { IO_CHUNK, LayerWriter, PagemapEntries, type PagesWriter } from './layer-writer.js';

/** A pagemap flattened to runs of pages, each with its output flags and where its bytes are. */
export interface FlatPagemap {
  readonly file: string;
  /** pages_id of the top layer's pagemap head. */
  readonly pagesId: number;
  readonly count: number;
  readonly vpage: readonly number[];
  readonly nrPages: readonly number[];
  /** Output flags: the holding entry's flags for data, PE_LAZY for lazy, PE_PARENT for kept below. */
  readonly flags: readonly number[];
  /** Layer holding the bytes (index into `files`), or -1 when the run has no bytes (lazy, parent). */
  readonly layer: readonly number[];
  /** Byte offset of the run's first page in that layer's pages file. */
  readonly offset: readonly number[];
  /** Index of the top layer's entry the run belongs to. */
  readonly entry: readonly number[];
  /** Per layer, its pages file for this pagemap (null where no run reads from it). */
  readonly files: readonly (RandomAccessFile | null)[];
  /** The full resolution of the pagemap through the stack. */
  readonly resolved: ResolvedPagemap;
}

/** Whole-address-space pseudo layer standing for "this layer and below" (--keep-below). */
const EVERYTHING: PagemapColumns = {
  pagesId: 0,
  count: 1,
  vpage: new Float64Array([0]),
  nrPages: new Float64Array([2 ** 52]),
  flags: new Uint32Array([PE_PRESENT]),
  fileOffset: new Float64Array([0]),
};

function firstEndingAfter(cols: PagemapColumns, page: number): number {
  let lo = 0;
  let hi = cols.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cols.vpage[mid]! + cols.nrPages[mid]! <= page) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class FlatBuilder {
  vpage: number[] = [];
  nrPages: number[] = [];
  flags: number[] = [];
  layer: number[] = [];
  offset: number[] = [];
  entry: number[] = [];

  push(entry: number, vpage: number, n: number, flags: number, layer: number, offset: number): void {
    const k = this.vpage.length - 1;
    if (
      k >= 0 &&
      this.entry[k] === entry &&
      this.flags[k] === flags &&
      this.layer[k] === layer &&
      this.vpage[k]! + this.nrPages[k]! === vpage &&
      (layer < 0 || this.offset[k]! + this.nrPages[k]! * PAGE_SIZE === offset)
    ) {
      this.nrPages[k]! += n;
      return;
    }
    this.vpage.push(vpage);
    this.nrPages.push(n);
    this.flags.push(flags);
    this.layer.push(layer);
    this.offset.push(offset);
    this.entry.push(entry);
  }
}

/**
 * Flattens pagemap `file` of the stack's top layer. With `keepBelow` = k (1 <= k < layers), only
 * layers above k are looked into; what resolves at k or below becomes PE_PARENT runs (and the
 * whole stack is still resolved once, so a broken lower part is an error here, not later).
 */
export async function flattenPagemap(stack: Stack, file: string, keepBelow?: number): Promise<FlatPagemap> {
  const n = stack.layers.length;
  const k = keepBelow ?? n;
  const top = await stack.pagemapColumns(file, 0);
  if (!top) throw new StackError(`${stack.top.source.name}/${file}: no such pagemap`);
  let resolved: ResolvedPagemap;
  let x: Extents;
  const columns: (PagemapColumns | null)[] = [];
  for (let l = 0; l < Math.min(k, n); l++) columns.push(await stack.pagemapColumns(file, l));
  if (k < n) {
    const layers: LayerPagemap[] = columns.map((c, l) => ({
      layerName: stack.layers[l]!.source.name,
      columns: c,
    }));
    layers.push({ layerName: stack.layers[k]!.source.name, columns: EVERYTHING });
    resolved = await stack.resolve(file); // checks the part below k too
    x = resolvePagemap(file, layers).extents;
  } else {
    resolved = await stack.resolve(file);
    x = resolved.extents;
  }
  const used = new Array<boolean>(k).fill(false);
  const b = new FlatBuilder();
  for (let i = 0; i < top.count; i++) {
    const s = top.vpage[i]!;
    const e = s + top.nrPages[i]!;
    const f = top.flags[i]!;
    let j = findExtent(x, s);
    let cur = s;
    while (cur < e) {
      if (j >= x.count || x.start[j]! > cur) {
        throw new StackError(`${stack.top.source.name}/${file}: entry ${i} did not resolve (internal error)`);
      }
      const es = x.start[j]!;
      const ee = x.end[j]!;
      const pe = Math.min(e, ee);
      const l = x.layer[j]!;
      const off = x.offset[j]! + (cur - es) * PAGE_SIZE;
      if (l === LAZY) {
        b.push(i, cur, pe - cur, f & PE_PARENT ? PE_LAZY : f, -1, 0);
      } else if (l >= k) {
        b.push(i, cur, pe - cur, PE_PARENT, -1, 0);
      } else if (l === 0) {
        used[0] = true;
        b.push(i, cur, pe - cur, f, 0, off);
      } else {
        // pages from a lower layer: one run per holding entry, with that entry's flags
        used[l] = true;
        const cols = columns[l]!;
        let t = firstEndingAfter(cols, cur);
        let c = cur;
        while (c < pe) {
          const q = Math.min(pe, cols.vpage[t]! + cols.nrPages[t]!);
          b.push(i, c, q - c, cols.flags[t]!, l, off + (c - cur) * PAGE_SIZE);
          c = q;
          t++;
        }
      }
      cur = pe;
      if (pe === ee) j++;
    }
  }
  const files: (RandomAccessFile | null)[] = [];
  for (let l = 0; l < k && l < n; l++) files.push(used[l] ? await stack.pagesFile(file, l) : null);
  return {
    file,
    pagesId: top.pagesId,
    count: b.vpage.length,
    vpage: b.vpage,
    nrPages: b.nrPages,
    flags: b.flags,
    layer: b.layer,
    offset: b.offset,
    entry: b.entry,
    files,
    resolved,
  };
}

/** One positioned read into a chunk buffer. */
export interface ReadOp {
  file: RandomAccessFile;
  position: number;
  length: number;
  /** Offset in the destination buffer. */
  at: number;
}

/** Appends a read, extending the last one when it continues it in the same file and buffer. */
export function pushRead(
  ops: ReadOp[],
  file: RandomAccessFile,
  position: number,
  length: number,
  at: number,
) {
  const last = ops[ops.length - 1];
  if (
    last &&
    last.file === file &&
    last.position + last.length === position &&
    last.at + last.length === at
  ) {
    last.length += length;
    return;
  }
  ops.push({ file, position, length, at });
}

/** Runs reads in parallel; a short read means the pages file was cut since it was checked. */
export async function runReads(ops: readonly ReadOp[], buf: Uint8Array, what: string): Promise<void> {
  await Promise.all(
    ops.map(async (op) => {
      const got = await op.file.read(buf, op.at, op.length, op.position);
      if (got < op.length) {
        throw new StackError(
          `${what}: pages file ended at offset ${op.position + got}, expected ${op.length - got} more bytes`,
        );
      }
    }),
  );
}

/** Streams the bytes of every data run of `flat`, in order, into `out` (big reads, one ahead). */
async function copyPresent(flat: FlatPagemap, out: PagesWriter, chunk: number): Promise<void> {
  const chunkPages = Math.max(1, Math.floor(chunk / PAGE_SIZE));
  function* plan(): Generator<{ ops: ReadOp[]; len: number }> {
    let ops: ReadOp[] = [];
    let fill = 0;
    for (let r = 0; r < flat.count; r++) {
      const l = flat.layer[r]!;
      if (l < 0) continue;
      const file = flat.files[l]!;
      let done = 0;
      const n = flat.nrPages[r]!;
      while (done < n) {
        const take = Math.min(n - done, chunkPages - fill);
        pushRead(ops, file, flat.offset[r]! + done * PAGE_SIZE, take * PAGE_SIZE, fill * PAGE_SIZE);
        fill += take;
        done += take;
        if (fill === chunkPages) {
          yield { ops, len: fill * PAGE_SIZE };
          ops = [];
          fill = 0;
        }
      }
    }
    if (fill > 0) yield { ops, len: fill * PAGE_SIZE };
  }
  const bufs = [Buffer.allocUnsafe(chunkPages * PAGE_SIZE), Buffer.allocUnsafe(chunkPages * PAGE_SIZE)];
  const what = `${flat.file}`;
  const it = plan();
  let turn = 0;
  const start = (c: IteratorResult<{ ops: ReadOp[]; len: number }>) => {
    if (c.done) return null;
    const buf = bufs[turn]!;
    turn ^= 1;
    return { buf, len: c.value.len, done: runReads(c.value.ops, buf, what) };
  };
  let cur = start(it.next());
  let next: typeof cur = null;
  try {
    while (cur) {
      next = start(it.next());
      await cur.done;
      await out.append(cur.buf, 0, cur.len);
      cur = next;
    }
  } catch (e) {
    // the reads already started for the next chunk must not fail unobserved
    await next?.done.catch(() => undefined);
    throw e;
  }
}

/** Pagemap image files of a layer (process and shmem). */
export function pagemapFiles(files: readonly string[]): string[] {
  return files.filter((f) => /^pagemap-.+\.img$/.test(f));
}

/** The relative link text from directory `from` (the link's own directory) to `to`. */
export async function linkTarget(fromDir: string, to: string): Promise<string> {
  const absFrom = join(await realpath(dirname(resolve(fromDir))), basename(resolve(fromDir)));
  const absTo = await realpath(to);
  const rel = relative(absFrom, absTo);
  return rel === '' ? '.' : rel;
}

export interface SquashOptions {
  /** Top layer of the stack to squash. */
  top: string;
  /** Output directory (must not exist). */
  out: string;
  /**
   * Keep this layer (and what is below it) as the parent: a directory of the stack, or a layer
   * index (0 = top, 1 = its parent, ...).
   */
  keepBelow?: string | number;
  /** Read/write buffer size in bytes (default 4 MiB). */
  chunkBytes?: number;
}

export interface SquashResult {
  out: string;
  /** Layers of the input stack; layers merged into the output. */
  layers: number;
  merged: number;
  /** The parent link written (null when self-contained). */
  parent: string | null;
  pagemaps: number;
  entries: number;
  presentPages: number;
  parentPages: number;
  lazyPages: number;
  /** Present pages taken from layers below the top. */
  pulledUpPages: number;
  bytesWritten: number;
}

/** Resolves --keep-below to a layer index of the stack (1..layers-1). */
export async function keepBelowIndex(stack: Stack, spec: string | number): Promise<number> {
  const n = stack.layers.length;
  const checkIndex = (k: number) => {
    if (k < 1 || k >= n) {
      throw new StackError(
        `--keep-below ${spec}: the stack of ${stack.top.source.name} has layers 0 (top) to ${n - 1}; choose one from 1 to ${n - 1}`,
      );
    }
    return k;
  };
  if (typeof spec === 'number') return checkIndex(spec);
  let real: string | null = null;
  try {
    real = await realpath(spec);
  } catch {
    real = null;
  }
  if (real !== null) {
    const k = stack.layers.findIndex((l) => l.source.id === real);
    if (k >= 0) return checkIndex(k);
    if (!/^\d+$/.test(spec)) {
      throw new StackError(
        `--keep-below ${spec}: not a layer of the stack of ${stack.top.source.name} (its layers: ${stack.layers.map((l) => l.source.name).join(', ')})`,
      );
    }
  }
  if (/^\d+$/.test(spec)) return checkIndex(Number(spec));
  throw new StackError(`--keep-below ${spec}: no such directory, and not a layer index`);
}

/** Squashes the stack of `top` into `out`. */
export async function squash(opts: SquashOptions): Promise<SquashResult> {
  const chunk = opts.chunkBytes ?? IO_CHUNK;
  const stack = await openStackDir(opts.top);
  try {
    const n = stack.layers.length;
    const k = opts.keepBelow === undefined ? n : await keepBelowIndex(stack, opts.keepBelow);
    const topDir = stack.top.source.name;
    const pagemaps = pagemapFiles(stack.top.files);
    // Decode and resolve everything before anything is written: a broken stack fails early.
    const flats: FlatPagemap[] = [];
    const pagesNames = new Map<string, string>();
    for (const pm of pagemaps) {
      const flat = await flattenPagemap(stack, pm, k < n ? k : undefined);
      const pages = `pages-${flat.pagesId}.img`;
      const other = pagesNames.get(pages);
      if (other !== undefined) {
        throw new StackError(`${topDir}: ${other} and ${pm} both name ${pages}; each pagemap needs its own`);
      }
      pagesNames.set(pages, pm);
      flats.push(flat);
    }
    const result: SquashResult = {
      out: opts.out,
      layers: n,
      merged: Math.min(k, n),
      parent: null,
      pagemaps: flats.length,
      entries: 0,
      presentPages: 0,
      parentPages: 0,
      lazyPages: 0,
      pulledUpPages: 0,
      bytesWritten: 0,
    };
    const w = await LayerWriter.begin(opts.out);
    try {
      for (const flat of flats) {
        const entries = new PagemapEntries();
        for (let r = 0; r < flat.count; r++) {
          const np = flat.nrPages[r]!;
          const f = flat.flags[r]!;
          entries.push(flat.entry[r]!, flat.vpage[r]!, np, f);
          if (flat.layer[r]! >= 0) {
            result.presentPages += np;
            if (flat.layer[r]! > 0) result.pulledUpPages += np;
          } else if (f === PE_PARENT) result.parentPages += np;
          else result.lazyPages += np;
        }
        const pages = await w.createPages(`pages-${flat.pagesId}.img`, chunk);
        await copyPresent(flat, pages, chunk);
        result.bytesWritten += pages.size;
        await pages.close();
        await w.writePagemap(flat.file, flat.pagesId, entries);
        result.entries += entries.count;
      }
      const rest = stack.top.files.filter(
        (f) => f !== 'parent' && !pagemaps.includes(f) && !pagesNames.has(f),
      );
      await w.copyLayerFiles(topDir, rest);
      if (k < n) {
        result.parent = await linkTarget(opts.out, stack.layers[k]!.source.name);
        await w.symlink('parent', result.parent);
      }
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
    return result;
  } finally {
    await stack.close();
  }
}
