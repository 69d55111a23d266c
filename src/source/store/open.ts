/**
 * Opening `s3://BUCKET/PREFIX/NAME[@N]`: the store root is `s3://BUCKET/PREFIX` (keys below it:
 * src/store/layout.ts), NAME the stack, @N the layer (1 = bottom, default the top). The AWS SDK is
 * loaded only here, only for such a target (openS3Store).
 */

import { holdsHotSets } from '../../stack/hotset.js';
import type { LayerSource } from '../../stack/source.js';
import { MAX_STACK_DEPTH } from '../../stack/stack.js';
import { checkStackName } from '../../store/layout.js';
import { openS3Store, parseS3Url, type S3Url } from '../s3/object-store.js';
import { ObjectStoreBlobs } from './blobs.js';
import { openFlatLayer, openStoreLayer, StoreContext, storeChain } from './source.js';

export interface OpenStoreOptions {
  /** S3 endpoint (`--endpoint`); else AWS_ENDPOINT_URL, else AWS. */
  endpoint?: string | undefined;
  /** Create the bucket when missing (push). */
  create?: boolean | undefined;
  /** Bound of the in-memory frame cache, bytes. */
  cacheBytes?: number | undefined;
}

/** An opened store root and the stack a URL names in it. */
export interface StoreTarget {
  readonly url: S3Url;
  readonly blobs: ObjectStoreBlobs;
  readonly ctx: StoreContext;
  /** The stack's NAME ('' when the URL is a bucket alone). */
  readonly name: string;
  readonly at: number | undefined;
  close(): Promise<void>;
}

/** The root URL (`s3://BUCKET/PREFIX`) of a parsed `s3://BUCKET/PREFIX/NAME`. */
export function rootOf(u: S3Url): string {
  return u.prefix === '' ? `s3://${u.bucket}` : `s3://${u.bucket}/${u.prefix}`;
}

/**
 * Opens the store of `s3://BUCKET/PREFIX/NAME[@N]` (or, with `asRoot`, of `s3://BUCKET/PREFIX`
 * itself, for `ls` of every stack under it).
 */
export async function openStoreTarget(
  url: string,
  opts: OpenStoreOptions = {},
  asRoot = false,
): Promise<StoreTarget> {
  const u = parseS3Url(url);
  const root = asRoot ? u.location : rootOf(u);
  const name = asRoot ? '' : u.name;
  if (!asRoot) checkStackName(name, u.location);
  const objects = await openS3Store(root, { endpoint: opts.endpoint, create: opts.create });
  const blobs = new ObjectStoreBlobs(objects);
  return {
    url: u,
    blobs,
    ctx: new StoreContext(blobs, u.location, opts.cacheBytes),
    name,
    at: u.layer,
    close: () => blobs.close(),
  };
}

/**
 * The layer an `s3://` target names, as a LayerSource for every reading command: the layered view,
 * or the flat view when PAGESTACK_STORE_VIEW=flat or the stack is deeper than MAX_STACK_DEPTH
 * (source.ts). Closing it closes the store.
 */
export async function openStoreSource(url: string, opts: OpenStoreOptions = {}): Promise<LayerSource> {
  const t = await openStoreTarget(url, opts);
  try {
    const { seq } = await storeChain(t.ctx, t.name, t.at);
    const flat = process.env['PAGESTACK_STORE_VIEW'] === 'flat' || seq > MAX_STACK_DEPTH;
    const layer = flat ? await openFlatLayer(t.ctx, t.name, seq) : await openStoreLayer(t.ctx, t.name, seq);
    return {
      name: layer.name,
      id: layer.id,
      list: () => layer.list(),
      readFile: (f) => layer.readFile(f),
      open: (f) => layer.open(f),
      parent: () => layer.parent(),
      close: () => t.close(),
      // the layer's hot set, a side object (restore; src/stack/hotset.ts)
      ...(holdsHotSets(layer)
        ? { readHotSet: () => layer.readHotSet(), writeHotSet: (b: Uint8Array) => layer.writeHotSet(b) }
        : {}),
    };
  } catch (e) {
    await t.close();
    throw e;
  }
}
