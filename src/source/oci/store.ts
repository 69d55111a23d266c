/**
 * pagestack stacks in an OCI registry: the store layout's port (src/store/port.ts) over one
 * repository, so `oci://REGISTRY/REPOSITORY:NAME` holds stack NAME with the same
 * content-addressed frames, files, indexes and layer manifests as `s3://BUCKET/PREFIX/NAME`.
 *
 *   blob <sha256>          registry blob sha256:<hex> of the repository (a registry deduplicates
 *                          by digest: a second push uploads only frames it lacks)
 *   ref <key>              tag `_ref-<first 60 hex of sha256(key)>`: an OCI 1.1 artifact manifest
 *                          (artifactType application/vnd.pagestack.ref.v1) whose annotations carry
 *                          the key, the body (base64) and the time it was written
 *   stack NAME             tag NAME: an artifact manifest (artifactType
 *                          application/vnd.pagestack.stack.v1) listing every blob of NAME's
 *                          layers (manifests, files, indexes, hashes, frames) as its layers, so a
 *                          registry's garbage collection keeps them and `oci://.../REPO:NAME`
 *                          names the stack; rewritten after each claim written or removed
 *
 * Stack names never start with `_`, so the two kinds of tags never meet. A registry has no
 * conditional PUT and no blob listing: claims decide concurrent pushes as on Swift (layout.ts),
 * with the writer's clock for the claim's time; listBlobs is refused (gc has to go by manifests).
 */
import { createHash } from 'node:crypto';
import { RegistryError, StoreError } from '../../errors.js';
import type { LayerSource } from '../../stack/source.js';
import { decodeManifest, STACK_REFS } from '../../store/layout.js';
import type { BlobInfo, BlobStore, GetBlobOptions, RefInfo } from '../../store/port.js';
import { readChain } from '../../store/refs.js';
import { type ImageManifest, MT } from './media.js';
import { formatImageRef, type ImageRef, parseImageRef } from './ref.js';
import { RegistryClient, type RegistryOptions, sha256Digest } from './registry.js';

export const STACK_ARTIFACT = 'application/vnd.pagestack.stack.v1';
export const REF_ARTIFACT = 'application/vnd.pagestack.ref.v1';
const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY = new TextEncoder().encode('{}');
const KEY_ANN = 'dev.pagestack.ref.key';
const BODY_ANN = 'dev.pagestack.ref.body';
const TIME_ANN = 'org.opencontainers.image.created';
export const STACK_NAME_ANN = 'dev.pagestack.stack.name';
/** Ref bodies travel in an annotation: small ones only. */
const MAX_REF_BODY = 64 * 1024;

function refTag(key: string): string {
  return `_ref-${createHash('sha256').update(key).digest('hex').slice(0, 60)}`;
}

const enc = new TextEncoder();

export class RegistryBlobStore implements BlobStore {
  readonly location: string;
  readonly client: RegistryClient;
  private emptyPushed = false;
  /** tag -> what its manifest said (claims are written once: cached). */
  private readonly refCache = new Map<string, RefInfo>();

  constructor(ref: ImageRef, opts: RegistryOptions = {}) {
    this.client = new RegistryClient({ ...ref, tag: null, digest: null }, opts);
    this.location = formatImageRef({ ...ref, tag: null, digest: null });
  }

  /** Registry errors as the store's codes where the layout acts on them. */
  private wrap(e: unknown, obj: string, where: string): never {
    if (e instanceof RegistryError) {
      if (e.code === 'PAGESTACK_REGISTRY_NOT_FOUND') {
        throw new StoreError(`${obj}: ${where}: the object is missing`, 'PAGESTACK_STORE_CORRUPT', {
          object: obj,
        });
      }
      if (e.code === 'PAGESTACK_REGISTRY_DIGEST') {
        throw new StoreError(`${e.message} (${where})`, 'PAGESTACK_STORE_CORRUPT', { object: obj });
      }
      if (e.code === 'PAGESTACK_REGISTRY_AUTH') throw new StoreError(e.message, 'PAGESTACK_STORE_AUTH');
      if (e.code === 'PAGESTACK_REGISTRY_UNAVAILABLE')
        throw new StoreError(e.message, 'PAGESTACK_STORE_UNAVAILABLE');
    }
    throw e;
  }

  hasBlob(hash: string): Promise<boolean> {
    return this.client.hasBlob(`sha256:${hash}`);
  }

  async getBlob(hash: string, opts: GetBlobOptions = {}): Promise<Uint8Array> {
    const digest = `sha256:${hash}`;
    const obj = `${this.location}@${digest}`;
    try {
      if (opts.range)
        return await this.client.readRange({ digest, size: opts.size }, opts.range.start, opts.range.end);
      return await this.client.getBlob({ digest, size: opts.size });
    } catch (e) {
      return this.wrap(e, obj, opts.where ?? 'blob');
    }
  }

  async putBlob(hash: string, bytes: Uint8Array): Promise<void> {
    const digest = `sha256:${hash}`;
    if (sha256Digest(bytes) !== digest) {
      throw new StoreError(
        `${this.location}@${digest}: the bytes to store hash to ${sha256Digest(bytes)}`,
        'PAGESTACK_STORE_CORRUPT',
      );
    }
    await this.client.pushBlob(
      { size: bytes.length, digest, read: async (p, n) => bytes.subarray(p, p + n) },
      { knownAbsent: true },
    );
  }

  // biome-ignore lint/correctness/useYield: refuses before the first item
  async *listBlobs(): AsyncIterable<BlobInfo> {
    throw new StoreError(
      `${this.location}: a registry cannot list its blobs (the distribution API has no such call); the stack tags' manifests name them`,
      'PAGESTACK_STORE',
    );
  }

  async deleteBlobs(hashes: readonly string[]): Promise<void> {
    for (const h of hashes) await this.client.deleteBlob(`sha256:${h}`);
  }

  async *listRefs(prefix: string): AsyncIterable<RefInfo> {
    const tags = (await this.client.listTags().catch((e: unknown) => {
      if (e instanceof RegistryError && e.code === 'PAGESTACK_REGISTRY_NOT_FOUND') return [] as string[];
      throw e;
    })) as string[];
    const out: RefInfo[] = [];
    for (const tag of tags) {
      if (!tag.startsWith('_ref-')) continue;
      let info = this.refCache.get(tag);
      if (!info) {
        const r = await this.readRef(tag);
        if (!r) continue;
        info = { key: r.key, modified: r.modified };
        this.refCache.set(tag, info);
      }
      if (info.key.startsWith(prefix)) out.push(info);
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* out;
  }

  private async readRef(tag: string): Promise<{ key: string; modified: Date; body: Uint8Array } | null> {
    let m: Awaited<ReturnType<RegistryClient['getManifest']>>;
    try {
      m = await this.client.getManifest(tag);
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'PAGESTACK_REGISTRY_NOT_FOUND') return null;
      throw e;
    }
    const doc = m.doc as ImageManifest;
    const a = doc.annotations ?? {};
    if (doc.artifactType !== REF_ARTIFACT || a[KEY_ANN] === undefined) {
      throw new StoreError(
        `${this.location}:${tag}: expected a pagestack ref (artifactType ${REF_ARTIFACT} with ${KEY_ANN})`,
        'PAGESTACK_STORE_CORRUPT',
      );
    }
    return {
      key: a[KEY_ANN],
      modified: new Date(a[TIME_ANN] ?? 0),
      body: Uint8Array.from(Buffer.from(a[BODY_ANN] ?? '', 'base64')),
    };
  }

  async getRef(key: string): Promise<Uint8Array | null> {
    const r = await this.readRef(refTag(key));
    if (r && r.key !== key) {
      throw new StoreError(
        `${this.location}:${refTag(key)}: holds ref '${r.key}', expected '${key}'`,
        'PAGESTACK_STORE_CORRUPT',
      );
    }
    return r?.body ?? null;
  }

  private async ensureEmpty(): Promise<void> {
    if (this.emptyPushed) return;
    await this.client.pushBlob({ size: EMPTY.length, digest: sha256Digest(EMPTY), read: async () => EMPTY });
    this.emptyPushed = true;
  }

  private artifact(
    artifactType: string,
    layers: ImageManifest['layers'],
    annotations: Record<string, string>,
  ): Uint8Array {
    const m: ImageManifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType,
      config: { mediaType: EMPTY_TYPE, digest: sha256Digest(EMPTY), size: EMPTY.length },
      layers,
      annotations,
    };
    return enc.encode(JSON.stringify(m));
  }

  async putRef(key: string, body: Uint8Array, opts: { ifNoneMatch?: boolean } = {}): Promise<void> {
    if (opts.ifNoneMatch) {
      throw new StoreError(`${this.location}: a registry has no conditional PUT`, 'PAGESTACK_STORE');
    }
    if (body.length > MAX_REF_BODY) {
      throw new StoreError(
        `${this.location}: ref '${key}': ${body.length} bytes, above ${MAX_REF_BODY}`,
        'PAGESTACK_STORE',
      );
    }
    await this.ensureEmpty();
    const modified = new Date();
    const bytes = this.artifact(REF_ARTIFACT, [], {
      [KEY_ANN]: key,
      [BODY_ANN]: Buffer.from(body).toString('base64'),
      [TIME_ANN]: modified.toISOString(),
    });
    const tag = refTag(key);
    await this.client.putManifest(bytes, MT.ociManifest, tag);
    this.refCache.set(tag, { key, modified });
    await this.stackTagFor(key);
  }

  async deleteRefs(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const tag = refTag(key);
      const d = await this.client.manifestDigest(tag);
      if (d) await this.client.deleteManifest(d);
      this.refCache.delete(tag);
    }
    for (const key of keys) await this.stackTagFor(key);
  }

  /** After a claim of stack NAME changed: tag NAME lists every blob of NAME's layers. */
  private async stackTagFor(key: string): Promise<void> {
    if (!key.startsWith(STACK_REFS)) return;
    const name = key.slice(STACK_REFS.length).split('/')[0]!;
    const chain = await readChain(this, name);
    if (chain.length === 0) return;
    const seen = new Set<string>();
    const layers: ImageManifest['layers'] = [];
    const add = (hash: string, size: number, mediaType: string) => {
      if (seen.has(hash)) return;
      seen.add(hash);
      layers.push({ mediaType, digest: `sha256:${hash}`, size });
    };
    for (const c of chain) {
      const mb = await this.getBlob(c.manifest, { where: `${name} layer manifest` });
      const m = decodeManifest(mb, `${this.location}@sha256:${c.manifest}`);
      add(c.manifest, mb.length, 'application/vnd.pagestack.layer.v1+json');
      for (const [h, n] of Object.values(m.files)) add(h, n, 'application/vnd.pagestack.file.v1');
      for (const [h, n] of m.frames) add(h, n, 'application/vnd.pagestack.frame.v1');
      for (const h of [m.index, m.hashes]) {
        if (seen.has(h)) continue;
        const n = await this.client.blobSize(`sha256:${h}`);
        if (n === null)
          this.wrap(
            new RegistryError('', 'PAGESTACK_REGISTRY_NOT_FOUND'),
            `${this.location}@sha256:${h}`,
            `${name} index`,
          );
        add(h, n, 'application/vnd.pagestack.index.v1');
      }
    }
    const bytes = this.artifact(STACK_ARTIFACT, layers, {
      [STACK_NAME_ANN]: name,
      [TIME_ANN]: new Date().toISOString(),
      'dev.pagestack.stack.layers': String(chain.length),
    });
    await this.client.putManifest(bytes, MT.ociManifest, name);
  }

  async conditionalPut(): Promise<boolean> {
    return false;
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/**
 * Stack NAME of a registry repository as a layer (layer `at`, 1 = bottom; default the top), read
 * in place through the store layout: the caller has resolved `ref`'s tag to a stack artifact.
 */
export async function openRegistryStack(
  ref: ImageRef,
  name: string,
  at: number | undefined,
): Promise<LayerSource> {
  const store = new RegistryBlobStore(ref);
  const { StoreContext, openStoreLayer } = await import('../store/source.js');
  const ctx = new StoreContext(store, `${store.location}:${name}`);
  return openStoreLayer(ctx, name, at);
}

/** An opened registry repository and the stack a URL names in it (the s3 StoreTarget's shape). */
export interface RegistryStoreTarget {
  readonly url: { location: string; name: string; layer: number | undefined };
  readonly blobs: RegistryBlobStore;
  readonly ctx: import('../store/source.js').StoreContext;
  readonly name: string;
  readonly at: number | undefined;
  close(): Promise<void>;
}

/**
 * Opens `oci://REGISTRY/REPOSITORY[:NAME][@N]` for push, pull and ls: the repository is the store,
 * NAME (the tag) the stack ('' when the URL has no tag), N the layer (1 = bottom).
 */
export async function openRegistryStoreTarget(url: string): Promise<RegistryStoreTarget> {
  const m = /^(.*?)(?:@(\d+))?$/.exec(url)!;
  const ref = parseImageRef(m[1]!);
  const lastSegment = m[1]!.slice(m[1]!.lastIndexOf('/') + 1);
  const name = lastSegment.includes(':') ? (ref.tag ?? '') : '';
  if (ref.digest !== null) {
    throw new StoreError(`${url}: a stack is named by its tag, not a digest`, 'PAGESTACK_STORE');
  }
  const blobs = new RegistryBlobStore(ref);
  const location = name === '' ? blobs.location : `${blobs.location}:${name}`;
  const { StoreContext } = await import('../store/source.js');
  return {
    url: { location, name, layer: m[2] === undefined ? undefined : Number(m[2]) },
    blobs,
    ctx: new StoreContext(blobs, location),
    name,
    at: m[2] === undefined ? undefined : Number(m[2]),
    close: () => blobs.close(),
  };
}
