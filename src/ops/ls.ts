/**
 * `ls`: the stacks under a store root, or the layers of one stack: when each was pushed, its
 * pages, and the bytes of frames it added (frames no layer below it names: its unique bytes).
 */
import type { StoreContext } from '../source/store/source.js';
import type { BlobStore } from '../store/port.js';
import { listStackNames, readChain } from '../store/refs.js';

export interface StackListing {
  name: string;
  layers: number;
  /** When the top layer was pushed. */
  pushed: Date;
}

export interface LayerListing {
  seq: number;
  manifest: string;
  pushed: Date;
  /** Pages the layer holds itself, and pages of memory read through it. */
  ownPages: number;
  memoryPages: number;
  /** Bytes of the layer's pages files, and of frames no layer below names. */
  pagesBytes: number;
  uniqueBytes: number;
}

export async function listStacks(store: BlobStore): Promise<StackListing[]> {
  const out: StackListing[] = [];
  for (const name of await listStackNames(store)) {
    const chain = await readChain(store, name);
    if (chain.length === 0) continue;
    out.push({ name, layers: chain.length, pushed: chain[chain.length - 1]!.modified });
  }
  return out;
}

/** The layers of stack `name`, bottom first (empty when there is no such stack). */
export async function listLayers(ctx: StoreContext, name: string): Promise<LayerListing[]> {
  const chain = await readChain(ctx.blobs, name);
  const manifests = await Promise.all(chain.map((c, i) => ctx.manifest(c.manifest, i + 1)));
  const seen = new Set<string>();
  return chain.map((c, i) => {
    const m = manifests[i]!;
    let unique = 0;
    for (const [h, size] of m.frames) {
      if (!seen.has(h)) unique += size;
      seen.add(h);
    }
    let pagesBytes = 0;
    for (const p of Object.values(m.pages)) pagesBytes += p.size;
    return {
      seq: i + 1,
      manifest: c.manifest,
      pushed: c.modified,
      ownPages: m.ownPages,
      memoryPages: m.memoryPages,
      pagesBytes,
      uniqueBytes: unique,
    };
  });
}
