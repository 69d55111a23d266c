/**
 * The store layout: how stacks live in an object store (S3, or a registry through the same port,
 * src/store/port.ts). Everything is an immutable blob named by the SHA-256 of its bytes, except the
 * refs, which say which layers a stack NAME has, in order.
 *
 *   PREFIX/
 *     blobs/<sha256>                       frames of page data, small image files, manifests,
 *                                          flat indexes, page-hash tables: all content-addressed
 *     refs/stacks/NAME/<seq>-<m>-<p>       one claim per layer of NAME: layer <seq> (1 = bottom) is
 *                                          manifest <m>, pushed on manifest <p> (or "none")
 *     refs/side/<m>/<what>                 small side objects of a layer (e.g. a restore's hot set)
 *
 *   layer manifest (JSON, blobs/<m>)                           frames (blobs, ~0.5 MiB each)
 *   { parent: <manifest below> | null,                         +--------+--------+--------+
 *     files: { "pstree.img": <blob>, "pagemap-7.img": ... },   |   f0   |   f1   |   f2   | ...
 *     pages: { "pages-1.img": slices [f0 0 524288][f1 0 ...] } +--------+--------+--------+
 *     index: <flat index>, hashes: <page hashes> }                 ^        ^
 *                                                                  |        |
 *   flat index (JSON): per pagemap of the layer, the memory it reads through the whole stack:
 *     "pagemap-7.img": [vpage n flags frame offset] ...   every run maps straight to a frame of
 *                                                         this layer or of any layer below
 *   page hashes (binary): 16 bytes of SHA-256 per page of the index's data runs, in index order
 *
 * Page data: each layer's pages files are cut at page boundaries into frames by content: a frame
 * ends after a page whose hash has its low FRAME_MASK bits zero (at least FRAME_MIN_PAGES, at most
 * FRAME_MAX_PAGES pages), so an identical run of pages gives identical frames wherever it lies
 * (another offset, layer, stack or container), and a frame already stored is not uploaded again.
 * A pages file is a list of slices (frame, offset, length): folding layers (`pull --flat`, `gc
 * --keep`) only writes new slice lists, never new page data.
 *
 * Reading a layer never walks the layers below: its flat index names, for every dumped page of
 * every process (and shmem object), the frame and offset of its bytes, whatever the depth. A new
 * layer's index is made from its own pagemaps and its parent's index alone. The page hashes let a
 * push of a full dump become an increment over the stack's top without downloading the layer
 * below: a page whose hash equals the top's at the same address becomes PE_PARENT (as `delta`).
 *
 * Refs are the only mutable objects, and pushes write them last, after every blob the layer needs:
 * a killed push leaves blobs no ref names (gc removes them), never a ref to a partial layer. Two
 * pushes of one NAME at once both write a claim for the same <seq>; each then lists the claims and
 * the earliest written (ties: the smaller key) wins, the other deletes its claim and reports a
 * conflict. Readers pick the same winner, and only a claim whose <p> is the winner below counts.
 * (Where the server honours If-None-Match, a `<seq>.lock` ref taken first makes the race exact.)
 */
import { StoreError } from '../errors.js';

export const LAYOUT_VERSION = 1;

/**
 * Frame cut: 1 page in FRAME_MASK + 1 ends a frame, after at least FRAME_MIN_PAGES. About 0.5 MiB
 * on average (64 KiB .. 2 MiB): a GET costs ~9-12 ms on loopback Swift whatever its size up to
 * ~1 MiB, so a cold read of one page costs about one GET, a sequential reader gets 2 MiB-class
 * throughput with a few GETs in flight, and a changed page costs at most a 2 MiB frame (Lambda
 * uses 512 KiB chunks, E2B 2 MiB frames).
 */
export const FRAME_MASK = 127;
export const FRAME_MIN_PAGES = 16;
export const FRAME_MAX_PAGES = 512;

/** Bytes of SHA-256 kept per page in a page-hash table (128 bits: collision-free in practice). */
export const PAGE_HASH_BYTES = 16;

export const BLOBS = 'blobs/';
export const STACK_REFS = 'stacks/';
export const SIDE_REFS = 'side/';

/** A stored frame: its hash and size. */
export type FrameRef = readonly [hash: string, size: number];

/** A pages file as slices over frames: [frame index, offset in frame, length] triples. */
export interface PagesDesc {
  readonly size: number;
  /** Flat triples: frame (index into the manifest's frames), offset, length. */
  readonly slices: readonly number[];
}

export interface LayerManifest {
  readonly format: 'pagestack-layer';
  readonly version: number;
  /** Manifest hash of the layer below, or null for a bottom layer. */
  readonly parent: string | null;
  /** Small image files (pagemaps too): name -> [blob hash, size]. */
  readonly files: Readonly<Record<string, FrameRef>>;
  /** Pages files: name -> slices over `frames`. */
  readonly pages: Readonly<Record<string, PagesDesc>>;
  readonly frames: readonly FrameRef[];
  /** Blob of the flat index. */
  readonly index: string;
  /** Blob of the page-hash table. */
  readonly hashes: string;
  /** Digest of the layer as it was given to push (a full dump's digest, before it became an increment). */
  readonly source: string;
  /** Pages this layer holds itself, and pages of memory it reads through the stack. */
  readonly ownPages: number;
  readonly memoryPages: number;
}

/** One pagemap's runs in a flat index. */
export interface FlatMap {
  readonly pagesId: number;
  /** Flat quintuples: vpage, nrPages, flags, frame (index into the index's frames; -1 lazy), offset. */
  readonly ext: readonly number[];
}

export interface FlatIndexDoc {
  readonly format: 'pagestack-index';
  readonly version: number;
  readonly frames: readonly FrameRef[];
  readonly maps: Readonly<Record<string, FlatMap>>;
}

export function blobKey(hash: string): string {
  return `${BLOBS}${hash}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function isHash(s: unknown): s is string {
  return typeof s === 'string' && HEX64.test(s);
}

/** Stack names: what a path segment can be, without the characters refs and URLs use. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkStackName(name: string, where: string): void {
  if (!NAME.test(name)) {
    throw new StoreError(
      `${where}: stack name '${name}': expected 1-128 characters of A-Z a-z 0-9 . _ - (not starting with . _ -)`,
      'PAGESTACK_STORE',
    );
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** JSON with sorted object keys, so equal content gives equal bytes (and the same hash). */
export function canonicalJson(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(sortKeys(v)));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

function corrupt(what: string, detail: string): StoreError {
  return new StoreError(`${what}: ${detail}`, 'PAGESTACK_STORE_CORRUPT');
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(dec.decode(bytes));
  } catch {
    throw corrupt(what, 'expected a JSON document');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw corrupt(what, 'expected a JSON object');
  return doc as Record<string, unknown>;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function frameRefs(v: unknown, what: string, field: string): FrameRef[] {
  if (!Array.isArray(v)) throw corrupt(what, `${field}: expected an array`);
  return v.map((f, i) => {
    if (!Array.isArray(f) || f.length !== 2 || !isHash(f[0]) || !isCount(f[1])) {
      throw corrupt(what, `${field}[${i}]: expected [sha256, size]`);
    }
    return [f[0], f[1]] as const;
  });
}

/** Checks slice triples against the frames table and the file size. */
function checkSlices(slices: unknown, frames: readonly FrameRef[], size: number, what: string): number[] {
  if (!Array.isArray(slices) || slices.length % 3 !== 0) throw corrupt(what, 'slices: expected triples');
  let total = 0;
  for (let i = 0; i < slices.length; i += 3) {
    const [f, o, n] = [slices[i], slices[i + 1], slices[i + 2]];
    if (!isCount(f) || !isCount(o) || !isCount(n) || f >= frames.length || o + n > frames[f]![1]) {
      throw corrupt(
        what,
        `slice ${i / 3}: expected [frame < ${frames.length}, offset, length] inside the frame`,
      );
    }
    total += n;
  }
  if (total !== size) throw corrupt(what, `slices cover ${total} bytes, expected the size ${size}`);
  return slices as number[];
}

export function encodeManifest(m: LayerManifest): Uint8Array {
  return canonicalJson(m);
}

/** Decodes and checks a layer manifest; `what` names it in errors (the object and the layer). */
export function decodeManifest(bytes: Uint8Array, what: string): LayerManifest {
  const d = parseJson(bytes, what);
  if (d['format'] !== 'pagestack-layer') throw corrupt(what, 'expected a pagestack layer manifest');
  if (d['version'] !== LAYOUT_VERSION) {
    throw corrupt(what, `layout version ${String(d['version'])}, this pagestack reads ${LAYOUT_VERSION}`);
  }
  if (d['parent'] !== null && !isHash(d['parent'])) throw corrupt(what, 'parent: expected a sha256 or null');
  for (const k of ['index', 'hashes', 'source'] as const) {
    if (!isHash(d[k])) throw corrupt(what, `${k}: expected a sha256`);
  }
  if (!isCount(d['ownPages']) || !isCount(d['memoryPages']))
    throw corrupt(what, 'page counts: expected integers');
  const frames = frameRefs(d['frames'], what, 'frames');
  const files: Record<string, FrameRef> = {};
  const rawFiles = d['files'];
  if (rawFiles === null || typeof rawFiles !== 'object') throw corrupt(what, 'files: expected an object');
  for (const [name, ref] of Object.entries(rawFiles)) {
    checkFileName(name, what);
    files[name] = frameRefs([ref], what, `files.${name}`)[0]!;
  }
  const pages: Record<string, PagesDesc> = {};
  const rawPages = d['pages'];
  if (rawPages === null || typeof rawPages !== 'object') throw corrupt(what, 'pages: expected an object');
  for (const [name, p] of Object.entries(rawPages as Record<string, unknown>)) {
    checkFileName(name, what);
    const pd = p as Record<string, unknown> | null;
    if (pd === null || typeof pd !== 'object' || !isCount(pd['size'])) {
      throw corrupt(what, `pages.${name}: expected {size, slices}`);
    }
    pages[name] = {
      size: pd['size'],
      slices: checkSlices(pd['slices'], frames, pd['size'], `${what}: ${name}`),
    };
  }
  return {
    format: 'pagestack-layer',
    version: LAYOUT_VERSION,
    parent: d['parent'] as string | null,
    files,
    pages,
    frames,
    index: d['index'] as string,
    hashes: d['hashes'] as string,
    source: d['source'] as string,
    ownPages: d['ownPages'],
    memoryPages: d['memoryPages'],
  };
}

function checkFileName(name: string, what: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw corrupt(what, `file name '${name}': expected a plain file name`);
  }
}

export function encodeIndex(doc: FlatIndexDoc): Uint8Array {
  return canonicalJson(doc);
}

export function decodeIndex(bytes: Uint8Array, what: string): FlatIndexDoc {
  const d = parseJson(bytes, what);
  if (d['format'] !== 'pagestack-index' || d['version'] !== LAYOUT_VERSION) {
    throw corrupt(what, `expected a pagestack flat index of version ${LAYOUT_VERSION}`);
  }
  const frames = frameRefs(d['frames'], what, 'frames');
  const maps: Record<string, FlatMap> = {};
  const raw = d['maps'];
  if (raw === null || typeof raw !== 'object') throw corrupt(what, 'maps: expected an object');
  for (const [file, m] of Object.entries(raw as Record<string, unknown>)) {
    checkFileName(file, what);
    const md = m as Record<string, unknown> | null;
    if (md === null || typeof md !== 'object' || !isCount(md['pagesId']) || !Array.isArray(md['ext'])) {
      throw corrupt(what, `maps.${file}: expected {pagesId, ext}`);
    }
    const ext = md['ext'] as unknown[];
    if (ext.length % 5 !== 0) throw corrupt(what, `maps.${file}: expected runs of 5 numbers`);
    let end = 0;
    for (let i = 0; i < ext.length; i += 5) {
      const [vpage, n, flags, frame, off] = ext.slice(i, i + 5);
      const ok =
        isCount(vpage) &&
        isCount(n) &&
        n > 0 &&
        vpage >= end &&
        isCount(flags) &&
        typeof frame === 'number' &&
        Number.isInteger(frame) &&
        frame >= -1 &&
        frame < frames.length &&
        isCount(off) &&
        (frame < 0 || off + n * 4096 <= frames[frame]![1]);
      if (!ok) throw corrupt(what, `maps.${file}: run ${i / 5}: expected sorted runs inside their frames`);
      end = (vpage as number) + (n as number);
    }
    maps[file] = { pagesId: md['pagesId'], ext: ext as number[] };
  }
  return { format: 'pagestack-index', version: LAYOUT_VERSION, frames, maps };
}

/** The key of a layer's claim in refs: `stacks/NAME/<seq, 10 digits>-<manifest>-<parent|none>`. */
export function claimKey(name: string, seq: number, manifest: string, parent: string | null): string {
  return `${STACK_REFS}${name}/${String(seq).padStart(10, '0')}-${manifest}-${parent ?? 'none'}`;
}

export interface Claim {
  readonly key: string;
  readonly seq: number;
  readonly manifest: string;
  readonly parent: string | null;
  readonly modified: Date;
}

const CLAIM = /^(\d{10})-([0-9a-f]{64})-([0-9a-f]{64}|none)$/;

/** Parses a claim key's last segment; null for anything else (locks, strangers). */
export function parseClaim(key: string, modified: Date): Claim | null {
  const m = CLAIM.exec(key.slice(key.lastIndexOf('/') + 1));
  if (!m) return null;
  const parent = m[3] === 'none' ? null : m[3]!;
  return { key, seq: Number(m[1]), manifest: m[2]!, parent, modified };
}

/** Orders claims of one seq: earliest written first, then by key. */
export function claimOrder(a: Claim, b: Claim): number {
  const t = a.modified.getTime() - b.modified.getTime();
  return t !== 0 ? t : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The chain of layers a stack's claims make: at each seq the first claim (claimOrder) whose
 * parent is the chain so far; the chain ends at the first seq without one.
 */
export function chainOf(claims: readonly Claim[]): Claim[] {
  const bySeq = new Map<number, Claim[]>();
  for (const c of claims) {
    const l = bySeq.get(c.seq);
    if (l) l.push(c);
    else bySeq.set(c.seq, [c]);
  }
  const chain: Claim[] = [];
  for (let seq = 1; ; seq++) {
    const l = bySeq.get(seq);
    if (!l) break;
    const below = chain.length > 0 ? chain[chain.length - 1]!.manifest : null;
    const fit = l.filter((c) => c.parent === below).sort(claimOrder);
    if (fit.length === 0) break;
    chain.push(fit[0]!);
  }
  return chain;
}
