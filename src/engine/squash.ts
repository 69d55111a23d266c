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
 * The flattening is the engine's (src/engine/flatten.ts), shared with `delta`; this file is the
 * engine's too, shared by the `squash` op and `restore` (its eager restore directory).
 */
import { realpath } from 'node:fs/promises';
import { StackError } from '../errors.js';
import { PAGE_SIZE, PE_PARENT } from '../image/pagemap.js';
import { ArchiveLayerSource } from '../source/archive/index.js';
import type { Stack } from '../stack/stack.js';
import { type FlatPagemap, flattenAll, pagemapFiles, pushRead, type ReadOp, runReads } from './flatten.js';
import { linkTarget } from './fs.js';
import { IO_CHUNK, LayerWriter, PagemapEntries, type PagesWriter } from './layer-writer.js';

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
      const name = flat.names[l];
      let done = 0;
      const n = flat.nrPages[r]!;
      while (done < n) {
        const take = Math.min(n - done, chunkPages - fill);
        pushRead(ops, file, flat.offset[r]! + done * PAGE_SIZE, take * PAGE_SIZE, fill * PAGE_SIZE, name);
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

export interface SquashOptions {
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
        `layer ${spec}: the stack of ${stack.top.source.name} has layers 0 (top) to ${n - 1}; choose one from 1 to ${n - 1}`,
        'PAGESTACK_LAYER_OUT_OF_RANGE',
        { spec: String(spec), layer: stack.top.source.name },
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
        `layer ${spec}: not a layer of the stack of ${stack.top.source.name} (its layers: ${stack.layers.map((l) => l.source.name).join(', ')})`,
        'PAGESTACK_NOT_A_LAYER',
        { spec, layer: stack.top.source.name },
      );
    }
  }
  if (/^\d+$/.test(spec)) return checkIndex(Number(spec));
  throw new StackError(`layer ${spec}: no such directory, and not a layer index`, 'PAGESTACK_NOT_A_LAYER', {
    spec,
  });
}

/** Squashes `stack` (opened by the caller, who closes it) into the directory `opts.out`. */
export async function squash(stack: Stack, opts: SquashOptions): Promise<SquashResult> {
  const chunk = opts.chunkBytes ?? IO_CHUNK;
  const n = stack.layers.length;
  const k = opts.keepBelow === undefined ? n : await keepBelowIndex(stack, opts.keepBelow);
  const pagemaps = pagemapFiles(stack.top.files);
  const { flats, pagesNames } = await flattenAll(stack, pagemaps, k < n ? k : undefined);
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
  const w = await LayerWriter.begin(opts.out, { inputs: stack.layers.map((l) => l.source) });
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
    const rest = stack.top.files.filter((f) => f !== 'parent' && !pagemaps.includes(f) && !pagesNames.has(f));
    await w.copyLayerFiles(stack.top.source, rest);
    if (k < n) {
      const below = stack.layers[k]!.source;
      if (below instanceof ArchiveLayerSource && below.dir !== below.archive.imageDir) {
        throw new StackError(
          `${below.name}: a layer inside an archive below its top cannot be linked to; squash it all, or keep a layer outside the archive`,
          'PAGESTACK_UNSUPPORTED_SOURCE',
          { layer: below.name },
        );
      }
      // a layer in an archive: the link names the archive file (its image directory is the layer)
      result.parent = await linkTarget(
        opts.out,
        below instanceof ArchiveLayerSource ? below.archive.path : below.name,
      );
      await w.symlink('parent', result.parent);
    }
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return result;
}
