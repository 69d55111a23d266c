/**
 * `push`: a local stack (or an archive, or a plain dump) into a stored stack NAME (layout:
 * src/store/layout.ts). Two ways:
 *
 *   layers     SOURCE's chain, bottom first, each layer stored as it is (its own pagemaps and
 *              pages files); layers the store has already (equal manifests) are skipped, the rest
 *              become the next layers of NAME. A SOURCE whose layers differ from NAME's is refused.
 *   increment  SOURCE is one plain dump (no PE_PARENT) and NAME has layers: each page whose hash
 *              equals the page of NAME's top at the same address becomes PE_PARENT (as `delta`
 *              writes it), using the top's page-hash table only: nothing of the layers is read.
 *
 * Page data is streamed: read in IO_CHUNK pieces, hashed per page, cut into frames by content
 * (src/store/frames.ts) and uploaded with a bounded number of PUTs in flight, each only if the
 * store lacks the frame (HEAD). Memory: the frames in flight, one read chunk, and 16 bytes per page
 * for the page hashes. Blobs go first, the manifest after everything it names, the ref last
 * (claimLayer): a push killed at any point leaves no ref to a partial layer, and pushing again
 * uploads only what is missing.
 */
import crypto, { createHash } from 'node:crypto';
import { encodePagemapChunks, IO_CHUNK, PagemapEntries } from '../engine/layer-writer.js';
import { ImageFormatError, StoreError } from '../errors.js';
import { decodePagemap, PAGE_SIZE, type PagemapColumns, PE_PARENT, PE_PRESENT } from '../image/pagemap.js';
import { sha256Hex } from '../source/store/blobs.js';
import { StoreContext } from '../source/store/source.js';
import type { LayerSource, RandomAccessFile } from '../stack/source.js';
import { buildIndex, FlatIndex, isPagemapFile, isPagesFile } from '../store/flat.js';
import { DEFAULT_CUT, endsFrame, type FrameCut } from '../store/frames.js';
import {
  encodeIndex,
  encodeManifest,
  type FrameRef,
  LAYOUT_VERSION,
  type LayerManifest,
  PAGE_HASH_BYTES,
  type PagesDesc,
} from '../store/layout.js';
import type { BlobStore } from '../store/port.js';
import { type ClaimOptions, claimLayer, markInFlight, readChain } from '../store/refs.js';

/** PUTs in flight at once (frames of ~0.5 MiB: 8 keep loopback Swift busy; memory 8 x 2 MiB at most). */
export const PUSH_PARALLEL = 8;
/** Deepest local chain push follows. */
const MAX_LOCAL_DEPTH = 4096;

export interface PushOptions extends ClaimOptions {
  store: BlobStore;
  /** `s3://BUCKET/PREFIX/NAME` for messages. */
  stackUrl: string;
  name: string;
  /** The top layer of what to push (its parent() chain goes too). */
  source: LayerSource;
  parallel?: number;
  cut?: FrameCut;
}

export interface PushedLayer {
  seq: number;
  manifest: string;
  /** 'new': added by this push; 'stored': the store had it already. */
  status: 'new' | 'stored';
  source: string;
}

export interface PushResult {
  mode: 'layers' | 'increment';
  layers: PushedLayer[];
  /** Layers NAME has now. */
  total: number;
  /** Bytes of page data SOURCE's pushed layers hold (what a plain copy would upload). */
  pagesBytes: number;
  /** Pages the increment took from the layer below (increment mode). */
  pagesShared: number;
  /** Bytes actually uploaded (frames, files, indexes, manifests), and blobs uploaded / found stored. */
  uploadedBytes: number;
  blobsUploaded: number;
  blobsFound: number;
}

/** Uploads blobs the store lacks, a bounded number at a time; each blob once per push. */
class Uploader {
  private readonly known = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  uploadedBytes = 0;
  uploaded = 0;
  found = 0;

  constructor(
    private readonly blobs: BlobStore,
    private readonly parallel: number,
  ) {}

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.known.has(hash)) return;
    this.known.add(hash);
    while (this.inflight.size >= this.parallel) await Promise.race(this.inflight);
    if (this.failure !== undefined) throw this.failure;
    const p: Promise<void> = (async () => {
      if (await this.blobs.hasBlob(hash)) {
        this.found++;
        return;
      }
      await this.blobs.putBlob(hash, bytes);
      this.uploadedBytes += bytes.length;
      this.uploaded++;
    })()
      .catch((e: unknown) => {
        this.known.delete(hash);
        this.failure ??= e;
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Waits for every upload; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    if (this.failure !== undefined) throw this.failure;
  }
}

/** The frames a manifest names, each once. */
class FrameTable {
  readonly frames: FrameRef[] = [];
  private readonly ids = new Map<string, number>();
  id(hash: string, size: number): number {
    let i = this.ids.get(hash);
    if (i === undefined) {
      i = this.frames.length;
      this.frames.push([hash, size]);
      this.ids.set(hash, i);
    }
    return i;
  }
}

/** One pages file being written as frames: pages in, slices and page hashes out. */
class FrameStream {
  private readonly buf: Uint8Array;
  private fill = 0;
  private pages = 0;
  readonly slices: number[] = [];
  size = 0;
  private hashes: Uint8Array;
  private nHashes = 0;

  constructor(
    private readonly up: Uploader,
    private readonly table: FrameTable,
    private readonly cut: FrameCut,
    expectPages: number,
  ) {
    this.buf = new Uint8Array(cut.maxPages * PAGE_SIZE);
    this.hashes = new Uint8Array(Math.max(1, expectPages) * PAGE_HASH_BYTES);
  }

  /** Appends one page (or a short tail) whose SHA-256 is `hash`. */
  async add(page: Uint8Array, hash: Uint8Array): Promise<void> {
    if ((this.nHashes + 1) * PAGE_HASH_BYTES > this.hashes.length) {
      const more = new Uint8Array(this.hashes.length * 2);
      more.set(this.hashes);
      this.hashes = more;
    }
    this.hashes.set(hash.subarray(0, PAGE_HASH_BYTES), this.nHashes * PAGE_HASH_BYTES);
    this.nHashes++;
    this.buf.set(page, this.fill);
    this.fill += page.length;
    this.pages++;
    this.size += page.length;
    if (page.length < PAGE_SIZE || endsFrame(hash, this.pages, this.cut)) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    const bytes = this.buf.slice(0, this.fill);
    const h = sha256Hex(bytes);
    this.slices.push(this.table.id(h, bytes.length), 0, bytes.length);
    this.fill = 0;
    this.pages = 0;
    await this.up.put(h, bytes);
  }

  /** The page hashes so far (PAGE_HASH_BYTES each, in file order). */
  pageHashes(): Uint8Array {
    return this.hashes.subarray(0, this.nHashes * PAGE_HASH_BYTES);
  }
}

/** Reads a file from start to end one page at a time, in IO_CHUNK reads. */
class PageReader {
  private readonly chunk = new Uint8Array(IO_CHUNK);
  private have = 0;
  private at = 0;
  private pos = 0;

  constructor(
    private readonly raf: RandomAccessFile,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.pos + this.at >= this.raf.size && this.at >= this.have;
  }

  /** The next page (shorter only at the end of the file); a view valid until the next call. */
  async next(): Promise<Uint8Array> {
    if (this.at >= this.have) {
      this.pos += this.have;
      const want = Math.min(IO_CHUNK, this.raf.size - this.pos);
      let got = 0;
      while (got < want) {
        const n = await this.raf.read(this.chunk, got, want - got, this.pos + got);
        if (n <= 0) break;
        got += n;
      }
      if (got < want || want <= 0) {
        throw new StoreError(
          `${this.what}: offset ${this.pos + got}: the file ended early`,
          'PAGESTACK_PAGES_FILE_SHORT',
        );
      }
      this.have = got;
      this.at = 0;
    }
    const n = Math.min(PAGE_SIZE, this.have - this.at);
    const page = this.chunk.subarray(this.at, this.at + n);
    this.at += n;
    return page;
  }
}

/**
 * SHA-256 of one page. crypto.hash (one call, no Hash object) where Node has it (20.12+): 1.2 s
 * instead of 1.7 s for 65,536 pages on the loaded test machine.
 */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
function pageHash(page: Uint8Array): Uint8Array {
  return oneShot ? oneShot('sha256', page, 'buffer') : createHash('sha256').update(page).digest();
}

interface BuiltLayer {
  hash: string;
  manifest: LayerManifest;
  index: FlatIndex;
  pagesBytes: number;
  pagesShared: number;
}

interface BuildContext {
  up: Uploader;
  cut: FrameCut;
}

/** The layers below `top` (by parent()), bottom first. */
async function localChain(top: LayerSource): Promise<LayerSource[]> {
  const out: LayerSource[] = [];
  const seen = new Set<string>();
  for (let cur: LayerSource | null = top; cur; cur = await cur.parent()) {
    if (seen.has(cur.id))
      throw new StoreError(`${cur.name}: parent links form a cycle`, 'PAGESTACK_STACK_CYCLE');
    if (out.length >= MAX_LOCAL_DEPTH) {
      throw new StoreError(`${top.name}: deeper than ${MAX_LOCAL_DEPTH} layers`, 'PAGESTACK_STACK_TOO_DEEP');
    }
    seen.add(cur.id);
    out.push(cur);
  }
  return out.reverse();
}

async function readSmall(src: LayerSource, file: string): Promise<Uint8Array> {
  const b = await src.readFile(file);
  if (!b)
    throw new StoreError(
      `${src.name}/${file}: listed, but the layer has no such file`,
      'PAGESTACK_SOURCE_READ',
    );
  return b;
}

function decodePm(bytes: Uint8Array, src: LayerSource, file: string): PagemapColumns {
  try {
    return decodePagemap(bytes);
  } catch (e) {
    if (e instanceof ImageFormatError) throw e.withFile(`${src.name}/${file}`);
    throw e;
  }
}

/**
 * Stores one layer: as it is (`below` the parent built before, or null), or as an increment over
 * `base` (NAME's top) when `increment`. Returns its manifest once every blob it names is stored.
 */
async function buildLayer(
  bc: BuildContext,
  src: LayerSource,
  parent: { hash: string; index: FlatIndex } | null,
  increment: boolean,
): Promise<BuiltLayer> {
  const names = (await src.list()).filter((f) => f !== 'parent');
  const small = names.filter((f) => !isPagesFile(f));
  const pagesNames = names.filter(isPagesFile);
  const digest = createHash('sha256');
  const files: Record<string, FrameRef> = {};
  const pagemaps: { file: string; cols: PagemapColumns }[] = [];
  const table = new FrameTable();
  const pages: Record<string, PagesDesc> = {};
  const ownHashes = new Map<string, Uint8Array>();
  let pagesBytes = 0;
  let pagesShared = 0;
  let ownPages = 0;

  const putSmall = async (file: string, bytes: Uint8Array) => {
    const h = sha256Hex(bytes);
    files[file] = [h, bytes.length];
    await bc.up.put(h, bytes);
  };

  const handledPages = new Set<string>();
  for (const file of small) {
    const bytes = await readSmall(src, file);
    digest.update(`file ${file} ${sha256Hex(bytes)}\n`);
    if (!isPagemapFile(file)) {
      await putSmall(file, bytes);
      continue;
    }
    const cols = decodePm(bytes, src, file);
    if (!increment) {
      await putSmall(file, bytes);
      pagemaps.push({ file, cols });
      continue;
    }
    // increment: rewrite the pagemap, pages equal to the base's at the same address become PE_PARENT
    const pagesName = `pages-${cols.pagesId}.img`;
    handledPages.add(pagesName);
    const raf = await src.open(pagesName);
    const present = countPresent(cols);
    if (present > 0 && !raf) {
      throw new StoreError(
        `${src.name}/${pagesName}: missing, ${file} needs ${present} pages of it`,
        'PAGESTACK_PAGES_FILE_MISSING',
      );
    }
    const reader = raf ? new PageReader(raf, `${src.name}/${pagesName}`) : null;
    const stream = new FrameStream(bc.up, table, bc.cut, present);
    const srcDigest = createHash('sha256');
    const entries = new PagemapEntries();
    for (let e = 0; e < cols.count; e++) {
      const v = cols.vpage[e]!;
      const n = cols.nrPages[e]!;
      const f = cols.flags[e]!;
      if (f & PE_PARENT) {
        throw new StoreError(
          `${src.name}/${file}: entry ${e}: PE_PARENT in a dump pushed as an increment`,
          'PAGESTACK_STACK',
        );
      }
      if (!(f & PE_PRESENT)) {
        entries.push(e, v, n, f);
        continue;
      }
      for (let k = 0; k < n; k++) {
        const page = await reader!.next();
        if (page.length < PAGE_SIZE) {
          throw new StoreError(
            `${src.name}/${pagesName}: shorter than ${file} needs`,
            'PAGESTACK_PAGES_FILE_SHORT',
          );
        }
        const h = pageHash(page);
        srcDigest.update(h.subarray(0, PAGE_HASH_BYTES));
        pagesBytes += PAGE_SIZE;
        const below = parent!.index.pageHash(file, v + k);
        if (below && equal16(below, h)) {
          entries.push(e, v + k, 1, PE_PARENT);
          pagesShared++;
        } else {
          entries.push(e, v + k, 1, f);
          await stream.add(page, h);
          ownPages++;
        }
      }
    }
    await stream.flush();
    if (raf) await raf.close();
    digest.update(`pages ${pagesName} ${srcDigest.digest('hex')}\n`);
    pages[pagesName] = { size: stream.size, slices: stream.slices };
    ownHashes.set(pagesName, stream.pageHashes());
    const pm = concat([...encodePagemapChunks(cols.pagesId, entries)]);
    await putSmall(file, pm);
    pagemaps.push({ file, cols: decodePagemap(pm) });
  }
  for (const pagesName of pagesNames) {
    if (handledPages.has(pagesName)) continue;
    const raf = await src.open(pagesName);
    if (!raf)
      throw new StoreError(`${src.name}/${pagesName}: listed, but cannot be opened`, 'PAGESTACK_SOURCE_READ');
    const reader = new PageReader(raf, `${src.name}/${pagesName}`);
    const stream = new FrameStream(bc.up, table, bc.cut, Math.ceil(raf.size / PAGE_SIZE));
    const srcDigest = createHash('sha256');
    while (!reader.done) {
      const page = await reader.next();
      const h = pageHash(page);
      srcDigest.update(h.subarray(0, PAGE_HASH_BYTES));
      await stream.add(page, h);
    }
    await stream.flush();
    await raf.close();
    digest.update(`pages ${pagesName} ${srcDigest.digest('hex')}\n`);
    pages[pagesName] = { size: stream.size, slices: stream.slices };
    ownHashes.set(pagesName, stream.pageHashes());
    pagesBytes += stream.size;
    ownPages += Math.floor(stream.size / PAGE_SIZE);
  }
  const built = buildIndex({
    what: src.name,
    parent: parent?.index ?? null,
    pagemaps,
    pages,
    frames: table.frames,
    ownHashes,
  });
  const indexBytes = encodeIndex(built.doc);
  const indexHash = sha256Hex(indexBytes);
  const hashesHash = sha256Hex(built.hashes);
  await bc.up.put(indexHash, indexBytes);
  await bc.up.put(hashesHash, built.hashes);
  const manifest: LayerManifest = {
    format: 'pagestack-layer',
    version: LAYOUT_VERSION,
    parent: parent?.hash ?? null,
    files,
    pages,
    frames: table.frames,
    index: indexHash,
    hashes: hashesHash,
    source: digest.digest('hex'),
    ownPages,
    memoryPages: built.memoryPages,
  };
  const mBytes = encodeManifest(manifest);
  const mHash = sha256Hex(mBytes);
  // the manifest only once everything it names is stored
  await bc.up.drain();
  await bc.up.put(mHash, mBytes);
  await bc.up.drain();
  return {
    hash: mHash,
    manifest,
    index: new FlatIndex(built.doc, built.hashes, src.name),
    pagesBytes,
    pagesShared,
  };
}

function countPresent(cols: PagemapColumns): number {
  let n = 0;
  for (let i = 0; i < cols.count; i++) if (cols.flags[i]! & PE_PRESENT) n += cols.nrPages[i]!;
  return n;
}

function hasParentEntries(cols: PagemapColumns): boolean {
  for (let i = 0; i < cols.count; i++) if (cols.flags[i]! & PE_PARENT) return true;
  return false;
}

function equal16(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < PAGE_HASH_BYTES; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Whether a single layer is a plain dump: no parent, no PE_PARENT entries. */
async function isPlainDump(src: LayerSource): Promise<boolean> {
  for (const f of await src.list()) {
    if (!isPagemapFile(f)) continue;
    if (hasParentEntries(decodePm(await readSmall(src, f), src, f))) return false;
  }
  return true;
}

/** Pushes `source` into stack `name` (see the file comment), marked in flight for gc. */
export async function push(opts: PushOptions): Promise<PushResult> {
  const unmark = await markInFlight(opts.store);
  try {
    return await pushMarked(opts);
  } finally {
    await unmark().catch(() => undefined);
  }
}

async function pushMarked(opts: PushOptions): Promise<PushResult> {
  const { store, name } = opts;
  const up = new Uploader(store, opts.parallel ?? PUSH_PARALLEL);
  const bc: BuildContext = { up, cut: opts.cut ?? DEFAULT_CUT };
  const local = await localChain(opts.source);
  const remote = await readChain(store, name);
  const layers: PushedLayer[] = [];
  let pagesBytes = 0;
  let pagesShared = 0;
  let total = remote.length;
  const result = (mode: PushResult['mode']): PushResult => ({
    mode,
    layers,
    total,
    pagesBytes,
    pagesShared,
    uploadedBytes: up.uploadedBytes,
    blobsUploaded: up.uploaded,
    blobsFound: up.found,
  });

  if (remote.length > 0 && local.length === 1 && (await isPlainDump(local[0]!))) {
    const ctx = new StoreContext(store, opts.stackUrl);
    const topSeq = remote.length;
    const topHash = remote[topSeq - 1]!.manifest;
    const topManifest = await ctx.manifest(topHash, topSeq);
    const index = await ctx.index(topManifest, topSeq, true);
    const built = await buildLayer(bc, local[0]!, { hash: topHash, index }, true);
    pagesBytes = built.pagesBytes;
    pagesShared = built.pagesShared;
    // the same dump again: the top is it already
    if (built.manifest.source === topManifest.source) {
      layers.push({ seq: topSeq, manifest: topHash, status: 'stored', source: local[0]!.name });
      return result('increment');
    }
    await claimLayer(store, name, topSeq + 1, built.hash, topHash, opts);
    layers.push({ seq: topSeq + 1, manifest: built.hash, status: 'new', source: local[0]!.name });
    total = topSeq + 1;
    return result('increment');
  }

  let below: { hash: string; index: FlatIndex } | null = null;
  for (let i = 0; i < local.length; i++) {
    const src = local[i]!;
    const built = await buildLayer(bc, src, below, false);
    pagesBytes += built.pagesBytes;
    const seq = i + 1;
    if (i < remote.length) {
      if (remote[i]!.manifest !== built.hash) {
        throw new StoreError(
          `${opts.stackUrl}: layer ${seq}: the store has another layer ${seq} than ${src.name} (manifest ${remote[i]!.manifest.slice(0, 12)}, not ${built.hash.slice(0, 12)}); push to a new NAME, or push a plain dump to add it as an increment`,
          'PAGESTACK_STORE_CONFLICT',
          { layer: `${name}@${seq}` },
        );
      }
      layers.push({ seq, manifest: built.hash, status: 'stored', source: src.name });
    } else {
      await claimLayer(store, name, seq, built.hash, below?.hash ?? null, opts);
      layers.push({ seq, manifest: built.hash, status: 'new', source: src.name });
      total = seq;
    }
    below = { hash: built.hash, index: built.index };
  }
  return result('layers');
}
