/**
 * A stored stack read in place: `s3://BUCKET/PREFIX/NAME[@N]` as LayerSources, so every reading
 * command works on it unchanged. Two views of a stored layer:
 *
 * - layered (`openStoreLayer`): each stored layer is a LayerSource with its own pagemaps (PE_PARENT
 *   and all) and pages files made of slices of frames, and parent() leads to the layer below, as
 *   on disk: `show`, `verify`, `diff` see the stack exactly as it was pushed.
 * - flat (`openFlatLayer`): one self-contained LayerSource made from the layer's manifest and flat
 *   index alone: its pagemaps are the index's runs (every dumped page PE_PRESENT, lazy stays lazy)
 *   and its pages files are slices of the frames the index names, in whichever layer they are.
 *   Opening and reading cost the same at any depth (no layer below is ever fetched): `pull
 *   --flat`, and stacks deeper than MAX_STACK_DEPTH, read this way.
 *
 * Layers are numbered from the bottom: @1 is the first layer pushed (the `ls` numbers), the top
 * by default. Whole frames are fetched, checked and cached (cache.ts).
 */
import { encodePagemapChunks, PagemapEntries } from '../../engine/layer-writer.js';
import { StoreError } from '../../errors.js';
import { PAGE_SIZE } from '../../image/pagemap.js';
import type { LayerSource, RandomAccessFile } from '../../stack/source.js';
import { FlatIndex, isPagemapFile, NO_FRAME } from '../../store/flat.js';
import { type Claim, decodeIndex, decodeManifest, type LayerManifest } from '../../store/layout.js';
import type { BlobStore } from '../../store/port.js';
import { getSideObject, putSideObject, readChain } from '../../store/refs.js';
import { BytesFile, FrameCache, SlicedFile } from './cache.js';

/** What the layers of one opened store share: the port, the frame cache, the stack's URL. */
export class StoreContext {
  readonly cache: FrameCache;
  private readonly manifests = new Map<string, Promise<LayerManifest>>();

  constructor(
    readonly blobs: BlobStore,
    /** `s3://BUCKET/PREFIX/NAME`, for layer names in messages. */
    readonly stackUrl: string,
    cacheBytes?: number,
  ) {
    this.cache = new FrameCache(blobs, cacheBytes);
  }

  layerName(seq: number): string {
    return `${this.stackUrl}@${seq}`;
  }

  /** A layer's manifest (cached), checked against its hash and decoded. */
  manifest(hash: string, seq: number): Promise<LayerManifest> {
    let p = this.manifests.get(hash);
    if (!p) {
      const what = `${this.layerName(seq)} manifest`;
      p = this.blobs
        .getBlob(hash, { where: what })
        .then((b) => decodeManifest(b, `${this.blobs.location}/blobs/${hash}: ${what}`));
      this.manifests.set(hash, p);
    }
    return p;
  }

  /** A layer's flat index with its page hashes (or without: `withHashes` false). */
  async index(m: LayerManifest, seq: number, withHashes: boolean): Promise<FlatIndex> {
    const what = `${this.layerName(seq)} flat index`;
    const [doc, hashes] = await Promise.all([
      this.blobs
        .getBlob(m.index, { where: what })
        .then((b) => decodeIndex(b, `${this.blobs.location}/blobs/${m.index}: ${what}`)),
      withHashes ? this.blobs.getBlob(m.hashes, { where: `${this.layerName(seq)} page hashes` }) : null,
    ]);
    return new FlatIndex(doc, hashes, `${this.blobs.location}/blobs/${m.hashes}: ${this.layerName(seq)}`);
  }
}

/** Picks layer `at` (1-based from the bottom; default the top) of a chain; throws when out of range. */
export function pickLayer(chain: readonly Claim[], at: number | undefined, where: string): number {
  if (chain.length === 0) {
    throw new StoreError(`${where}: no such stack in the store`, 'PAGESTACK_STORE_NOT_FOUND', {
      object: where,
    });
  }
  const seq = at ?? chain.length;
  if (seq < 1 || seq > chain.length) {
    throw new StoreError(
      `${where}@${seq}: the stack has layers 1 to ${chain.length} (1 = the bottom)`,
      'PAGESTACK_LAYER_OUT_OF_RANGE',
      { object: where },
    );
  }
  return seq;
}

/** One stored layer as it was pushed (the layered view). */
export class StoreLayer implements LayerSource {
  readonly name: string;
  readonly id: string;

  constructor(
    private readonly ctx: StoreContext,
    private readonly chain: readonly Claim[],
    readonly seq: number,
    readonly manifestHash: string,
    readonly manifest: LayerManifest,
  ) {
    this.name = ctx.layerName(seq);
    this.id = `${ctx.blobs.location}#${manifestHash}`;
  }

  /** The layer's files, with `parent` above the bottom (as an image directory lists its link). */
  async list(): Promise<string[]> {
    const names = [...Object.keys(this.manifest.files), ...Object.keys(this.manifest.pages)];
    if (this.seq > 1) names.push('parent');
    return names.sort();
  }

  async readFile(file: string): Promise<Uint8Array | null> {
    const f = this.manifest.files[file];
    if (f) return this.ctx.blobs.getBlob(f[0], { size: f[1], where: `${this.name}/${file}` });
    const raf = await this.open(file);
    if (!raf) return null;
    const buf = new Uint8Array(raf.size);
    await raf.read(buf, 0, raf.size, 0);
    return buf;
  }

  async open(file: string): Promise<RandomAccessFile | null> {
    const p = this.manifest.pages[file];
    if (p) return new SlicedFile(this.ctx.cache, this.manifest.frames, p.slices, `${this.name}/${file}`);
    if (!this.manifest.files[file]) return null;
    const b = await this.readFile(file);
    return b ? new BytesFile(b) : null;
  }

  async parent(): Promise<LayerSource | null> {
    if (this.seq <= 1) return null;
    const below = this.chain[this.seq - 2]!;
    if (this.manifest.parent !== below.manifest) {
      throw new StoreError(
        `${this.name}: the manifest names parent ${String(this.manifest.parent).slice(0, 12)}, the ref ${below.manifest.slice(0, 12)}`,
        'PAGESTACK_STORE_CORRUPT',
      );
    }
    return new StoreLayer(
      this.ctx,
      this.chain,
      this.seq - 1,
      below.manifest,
      await this.ctx.manifest(below.manifest, this.seq - 1),
    );
  }

  /** The hot set restores recorded for this layer (src/stack/hotset.ts): its side object. */
  readHotSet(): Promise<Uint8Array | null> {
    return getSideObject(this.ctx.blobs, this.manifestHash, 'hotset');
  }

  async writeHotSet(bytes: Uint8Array): Promise<string> {
    await putSideObject(this.ctx.blobs, this.manifestHash, 'hotset', bytes);
    return `${this.name} (side object hotset)`;
  }

  async close(): Promise<void> {}
}

/** One stored layer made self-contained from its flat index (the flat view). */
export class FlatStoreLayer implements LayerSource {
  readonly name: string;
  readonly id: string;
  private readonly pagemaps = new Map<string, Uint8Array>();
  private readonly pagesFiles = new Map<string, readonly number[]>();

  constructor(
    private readonly ctx: StoreContext,
    readonly seq: number,
    readonly manifestHash: string,
    readonly manifest: LayerManifest,
    private readonly index: FlatIndex,
  ) {
    this.name = `${ctx.layerName(seq)} (flat)`;
    this.id = `${ctx.blobs.location}#${manifestHash}#flat`;
    for (const [file, runs] of index.maps) {
      const entries = new PagemapEntries();
      const slices: number[] = [];
      for (let i = 0; i < runs.count; i++) {
        const fr = runs.frame[i]!;
        entries.push(i, runs.vpage[i]!, runs.nrPages[i]!, runs.flags[i]!);
        if (fr !== NO_FRAME) slices.push(fr, runs.offset[i]!, runs.nrPages[i]! * PAGE_SIZE);
      }
      const chunks = [...encodePagemapChunks(runs.pagesId, entries)];
      const size = chunks.reduce((s, c) => s + c.length, 0);
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.length;
      }
      this.pagemaps.set(file, bytes);
      this.pagesFiles.set(`pages-${runs.pagesId}.img`, slices);
    }
  }

  async list(): Promise<string[]> {
    const own = Object.keys(this.manifest.files).filter((f) => !isPagemapFile(f));
    return [...own, ...this.pagemaps.keys(), ...this.pagesFiles.keys()].sort();
  }

  async readFile(file: string): Promise<Uint8Array | null> {
    const pm = this.pagemaps.get(file);
    if (pm) return pm;
    if (!isPagemapFile(file)) {
      const f = this.manifest.files[file];
      if (f) return this.ctx.blobs.getBlob(f[0], { size: f[1], where: `${this.name}/${file}` });
    }
    const raf = await this.open(file);
    if (!raf) return null;
    const buf = new Uint8Array(raf.size);
    await raf.read(buf, 0, raf.size, 0);
    return buf;
  }

  async open(file: string): Promise<RandomAccessFile | null> {
    const slices = this.pagesFiles.get(file);
    if (slices) return new SlicedFile(this.ctx.cache, this.index.frames, slices, `${this.name}/${file}`);
    const small = await (this.pagemaps.has(file) || this.manifest.files[file] ? this.readFile(file) : null);
    return small ? new BytesFile(small) : null;
  }

  async parent(): Promise<LayerSource | null> {
    return null;
  }

  async close(): Promise<void> {}
}

/** A stack's chain, and the layer `at` of it (1-based from the bottom, default the top). */
export async function storeChain(
  ctx: StoreContext,
  name: string,
  at: number | undefined,
): Promise<{ chain: Claim[]; seq: number }> {
  const chain = await readChain(ctx.blobs, name);
  return { chain, seq: pickLayer(chain, at, ctx.stackUrl) };
}

/** Layer `at` of stack `name` in the layered view (its parent() leads down the stack). */
export async function openStoreLayer(ctx: StoreContext, name: string, at?: number): Promise<StoreLayer> {
  const { chain, seq } = await storeChain(ctx, name, at);
  const hash = chain[seq - 1]!.manifest;
  return new StoreLayer(ctx, chain, seq, hash, await ctx.manifest(hash, seq));
}

/** Layer `at` of stack `name` as one self-contained layer (the flat view). */
export async function openFlatLayer(ctx: StoreContext, name: string, at?: number): Promise<FlatStoreLayer> {
  const { chain, seq } = await storeChain(ctx, name, at);
  const hash = chain[seq - 1]!.manifest;
  const m = await ctx.manifest(hash, seq);
  return new FlatStoreLayer(ctx, seq, hash, m, await ctx.index(m, seq, false));
}
