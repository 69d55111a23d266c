/**
 * Flattening: a pagemap of a stack's top layer as runs of pages, each with the flags it gets in a
 * self-contained layer and where its bytes are (the layer's pages file and offset). `squash`
 * writes these runs out; `delta` reads its CHILD through them. Plus the positioned reads both use
 * to fetch the runs' bytes in big chunks.
 *
 * Every pagemap is flattened entry by entry: PE_PARENT ranges are replaced by the pages of the
 * layers that hold them, with the flags of the holding entry (6, 4, ...); lazy stays lazy. With
 * `keepBelow` = k, ranges that resolve at or below layer k stay PE_PARENT. The split into runs
 * follows the top's own entries (a range is never merged across two of them), cut wherever the
 * holding layer or its flags change.
 */
import { StackError } from '../errors.js';
import { PAGE_SIZE, type PagemapColumns, PE_LAZY, PE_PARENT, PE_PRESENT } from '../image/pagemap.js';
import {
  type Extents,
  findExtent,
  LAZY,
  type LayerPagemap,
  type ResolvedPagemap,
  resolvePagemap,
} from '../stack/resolve.js';
import { partitionPoint } from '../stack/search.js';
import type { RandomAccessFile } from '../stack/source.js';
import type { Stack } from '../stack/stack.js';

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
  /** Per layer, the path of its pages file for this pagemap (for messages; null where unread). */
  readonly names: readonly (string | null)[];
  /** The full resolution of the pagemap through the stack. */
  readonly resolved: ResolvedPagemap;
}

/** Whole-address-space pseudo layer standing for "this layer and below" (keepBelow). */
const EVERYTHING: PagemapColumns = {
  pagesId: 0,
  count: 1,
  vpage: new Float64Array([0]),
  nrPages: new Float64Array([2 ** 52]),
  flags: new Uint32Array([PE_PRESENT]),
  fileOffset: new Float64Array([0]),
};

/** Index of the first entry of `cols` ending above `page`. */
function firstEndingAfter(cols: PagemapColumns, page: number): number {
  return partitionPoint(0, cols.count, (i) => cols.vpage[i]! + cols.nrPages[i]! <= page);
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
  if (!top) {
    throw new StackError(`${stack.top.source.name}/${file}: no such pagemap`, 'PAGESTACK_NO_PAGEMAP', {
      file: `${stack.top.source.name}/${file}`,
    });
  }
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
        throw new StackError(
          `${stack.top.source.name}/${file}: entry ${i} did not resolve (internal error)`,
          'PAGESTACK_ERROR',
        );
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
  const names: (string | null)[] = [];
  for (let l = 0; l < k && l < n; l++) {
    files.push(used[l] ? await stack.pagesFile(file, l) : null);
    const cols = columns[l];
    names.push(used[l] && cols ? `${stack.layers[l]!.source.name}/pages-${cols.pagesId}.img` : null);
  }
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
    names,
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
  /** The file's path, for messages. */
  name?: string | undefined;
}

/** Appends a read, extending the last one when it continues it in the same file and buffer. */
export function pushRead(
  ops: ReadOp[],
  file: RandomAccessFile,
  position: number,
  length: number,
  at: number,
  name?: string | null,
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
  ops.push({ file, position, length, at, name: name ?? undefined });
}

/**
 * Runs reads in parallel; a short read means the pages file was cut since it was checked. Errors
 * name the op's file (else `what`). The promise is marked handled at once: callers start reads
 * ahead of the chunk they wait for, and a read ahead that fails before they get to it must not end
 * the process as an unhandled rejection; awaiting it still throws.
 */
export function runReads(ops: readonly ReadOp[], buf: Uint8Array, what: string): Promise<void> {
  const p = Promise.all(
    ops.map(async (op) => {
      const got = await op.file.read(buf, op.at, op.length, op.position);
      if (got < op.length) {
        const file = op.name ?? what;
        throw new StackError(
          `${file}: offset ${op.position + got}: the pages file ends here (cut short while being read), expected ${op.length - got} more bytes`,
          'PAGESTACK_PAGES_FILE_SHORT',
          { file, offset: op.position + got },
        );
      }
    }),
  ).then(() => undefined);
  p.catch(() => undefined);
  return p;
}

/** Pagemap image files of a layer (process and shmem). */
export function pagemapFiles(files: readonly string[]): string[] {
  return files.filter((f) => /^pagemap-.+\.img$/.test(f));
}

/**
 * Flattens every pagemap in `pagemaps` of the stack's top (see flattenPagemap). Everything is
 * decoded and resolved before anything is written, so a broken stack fails early; two pagemaps
 * naming one pages file are refused (each output pagemap needs its own).
 */
export async function flattenAll(
  stack: Stack,
  pagemaps: readonly string[],
  keepBelow?: number,
): Promise<{ flats: FlatPagemap[]; pagesNames: Map<string, string> }> {
  const flats: FlatPagemap[] = [];
  const pagesNames = new Map<string, string>();
  const topDir = stack.top.source.name;
  for (const pm of pagemaps) {
    const flat = await flattenPagemap(stack, pm, keepBelow);
    const pages = `pages-${flat.pagesId}.img`;
    const other = pagesNames.get(pages);
    if (other !== undefined) {
      throw new StackError(
        `${topDir}: ${other} and ${pm} both name ${pages}; each pagemap needs its own`,
        'PAGESTACK_PAGES_NAME_CLASH',
        { layer: topDir, file: pages },
      );
    }
    pagesNames.set(pages, pm);
    flats.push(flat);
  }
  return { flats, pagesNames };
}
