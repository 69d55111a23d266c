/**
 * The store layout's port (src/store/port.ts) over an S3-style ObjectStore: blobs at
 * `blobs/<sha256>`, refs at `refs/<key>`. Every whole blob read is checked against its name
 * here: a corrupt, truncated or missing object is one StoreError naming the object, the layer and
 * what was expected, never wrong bytes.
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../../errors.js';
import { BLOBS, blobKey } from '../../store/layout.js';
import type { BlobInfo, BlobStore, GetBlobOptions, RefInfo } from '../../store/port.js';
import { type ObjectStore, objectUrl } from '../s3/object-store.js';

const REFS = 'refs/';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class ObjectStoreBlobs implements BlobStore {
  readonly location: string;

  constructor(readonly objects: ObjectStore) {
    this.location = objects.location;
  }

  async hasBlob(hash: string): Promise<boolean> {
    return (await this.objects.head(blobKey(hash))) !== null;
  }

  async getBlob(hash: string, opts: GetBlobOptions = {}): Promise<Uint8Array> {
    const key = blobKey(hash);
    const obj = objectUrl(this.location, key);
    const where = opts.where ?? 'blob';
    let bytes: Uint8Array;
    try {
      bytes = await this.objects.get(key, opts.range);
    } catch (e) {
      if (e instanceof StoreError && e.code === 'PAGESTACK_STORE_NOT_FOUND') {
        throw new StoreError(`${obj}: ${where}: the object is missing`, 'PAGESTACK_STORE_CORRUPT', {
          object: obj,
        });
      }
      throw e;
    }
    if (opts.range) {
      const want = opts.range.end - opts.range.start;
      if (bytes.length !== want) {
        throw new StoreError(
          `${obj}: ${where}: bytes ${opts.range.start}-${opts.range.end}: got ${bytes.length} bytes, expected ${want} (truncated)`,
          'PAGESTACK_STORE_CORRUPT',
          { object: obj },
        );
      }
      return bytes;
    }
    if (opts.size !== undefined && bytes.length !== opts.size) {
      throw new StoreError(
        `${obj}: ${where}: ${bytes.length} bytes, expected ${opts.size} (truncated or replaced)`,
        'PAGESTACK_STORE_CORRUPT',
        { object: obj },
      );
    }
    const got = sha256Hex(bytes);
    if (got !== hash) {
      throw new StoreError(
        `${obj}: ${where}: content has sha256 ${got.slice(0, 16)}..., expected ${hash.slice(0, 16)}... (corrupt)`,
        'PAGESTACK_STORE_CORRUPT',
        { object: obj },
      );
    }
    return bytes;
  }

  putBlob(hash: string, bytes: Uint8Array): Promise<void> {
    return this.objects.put(blobKey(hash), bytes);
  }

  async *listBlobs(): AsyncIterable<BlobInfo> {
    for await (const o of this.objects.list(BLOBS)) {
      yield { hash: o.key.slice(BLOBS.length), size: o.size, modified: o.modified };
    }
  }

  deleteBlobs(hashes: readonly string[]): Promise<void> {
    return this.objects.delete(hashes.map(blobKey));
  }

  async *listRefs(prefix: string): AsyncIterable<RefInfo> {
    for await (const o of this.objects.list(`${REFS}${prefix}`)) {
      yield { key: o.key.slice(REFS.length), modified: o.modified };
    }
  }

  async getRef(key: string): Promise<Uint8Array | null> {
    try {
      return await this.objects.get(`${REFS}${key}`);
    } catch (e) {
      if (e instanceof StoreError && e.code === 'PAGESTACK_STORE_NOT_FOUND') return null;
      throw e;
    }
  }

  putRef(key: string, body: Uint8Array, opts: { ifNoneMatch?: boolean } = {}): Promise<void> {
    return this.objects.put(`${REFS}${key}`, body, opts.ifNoneMatch ? { ifNoneMatch: true } : {});
  }

  deleteRefs(keys: readonly string[]): Promise<void> {
    return this.objects.delete(keys.map((k) => `${REFS}${k}`));
  }

  conditionalPut(): Promise<boolean> {
    return this.objects.conditionalPut();
  }

  close(): Promise<void> {
    return this.objects.close();
  }
}
