/**
 * `pull`: a stored stack (or layer @N) into a local directory that CRIU restores.
 *
 *   DIR/1, DIR/2, ... DIR/N    layered: every layer as it was pushed, `parent -> ../K-1`
 *   DIR                        --flat: one self-contained layer from layer N's flat index
 *
 * Built beside DIR and renamed into place (engine/layer-writer.ts), every file fsynced; page data
 * streamed frame by frame (prefetching ahead), never a whole layer in memory.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../engine/fs.js';
import { IO_CHUNK, LayerWriter } from '../engine/layer-writer.js';
import { LayerWriteError } from '../errors.js';
import { openFlatLayer, openStoreLayer, type StoreContext } from '../source/store/source.js';
import type { LayerSource } from '../stack/source.js';
import { isPagesFile } from '../store/flat.js';

export interface PullOptions {
  ctx: StoreContext;
  name: string;
  /** The layer (1 = bottom), default the top. */
  at?: number | undefined;
  dest: string;
  flat?: boolean;
}

export interface PullResult {
  /** The directory CRIU restores: DIR/N, or DIR with flat. */
  top: string;
  layers: number;
  /** Bytes of pages files written. */
  pagesBytes: number;
  /** Bytes fetched from the store for page data (whole frames). */
  fetchedBytes: number;
}

/** Writes every file of `src` into `sub` of the writer's directory; returns the bytes of pages files. */
async function writeLayer(w: LayerWriter, src: LayerSource, sub: string): Promise<number> {
  let pages = 0;
  const prefix = sub === '' ? '' : `${sub}/`;
  for (const file of await src.list()) {
    if (file === 'parent') continue; // written as the link to ../K-1
    if (!isPagesFile(file)) {
      const data = await src.readFile(file);
      if (!data) throw new LayerWriteError(`${src.name}/${file}: listed, but the layer has no such file`);
      await w.writeFile(`${prefix}${file}`, data);
      continue;
    }
    const raf = await src.open(file);
    if (!raf) throw new LayerWriteError(`${src.name}/${file}: listed, but cannot be opened`);
    const out = await w.createPages(`${prefix}${file}`);
    try {
      const buf = new Uint8Array(Math.min(IO_CHUNK, Math.max(1, raf.size)));
      for (let pos = 0; pos < raf.size; ) {
        const n = await raf.read(buf, 0, Math.min(buf.length, raf.size - pos), pos);
        if (n <= 0) throw new LayerWriteError(`${src.name}/${file}: offset ${pos}: read nothing`);
        await out.append(buf, 0, n);
        pos += n;
      }
      await out.close();
    } catch (e) {
      await out.discard();
      throw e;
    }
    pages += raf.size;
    await raf.close();
  }
  return pages;
}

export async function pull(opts: PullOptions): Promise<PullResult> {
  const { ctx } = opts;
  const before = ctx.cache.stats.bytesFetched;
  if (opts.flat) {
    const layer = await openFlatLayer(ctx, opts.name, opts.at);
    const w = await LayerWriter.begin(opts.dest);
    try {
      const pagesBytes = await writeLayer(w, layer, '');
      await w.commit();
      return { top: opts.dest, layers: 1, pagesBytes, fetchedBytes: ctx.cache.stats.bytesFetched - before };
    } catch (e) {
      await w.abort();
      throw e;
    }
  }
  const top = await openStoreLayer(ctx, opts.name, opts.at);
  const chain: LayerSource[] = [];
  for (let cur: LayerSource | null = top; cur; cur = await cur.parent()) chain.unshift(cur);
  const w = await LayerWriter.begin(opts.dest);
  try {
    let pagesBytes = 0;
    for (let k = 1; k <= chain.length; k++) {
      const sub = String(k);
      await mkdir(join(w.dir, sub), { mode: 0o755 });
      pagesBytes += await writeLayer(w, chain[k - 1]!, sub);
      if (k > 1) await w.symlink(`${sub}/parent`, `../${k - 1}`);
      await fsyncPath(join(w.dir, sub));
    }
    await w.commit();
    return {
      top: join(opts.dest, String(chain.length)),
      layers: chain.length,
      pagesBytes,
      fetchedBytes: ctx.cache.stats.bytesFetched - before,
    };
  } catch (e) {
    await w.abort();
    throw e;
  }
}
