/**
 * An in-memory ObjectStore (src/source/s3/object-store.ts) for unit tests of what builds on it:
 * the same contract as the S3 store (errors with the same codes and `s3://` names, ranges, sorted
 * listings, conditional writes when asked for), plus counters of requests and bytes, and a hook
 * that makes chosen requests fail (a server that is down, refuses, or dies mid-push).
 *
 * Never the only server a feature is tested against: test/helpers/swift.ts is a real one.
 */
import { StoreError } from '../../src/errors.js';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions } from '../../src/source/s3/object-store.js';

export type MemOp = 'get' | 'put' | 'head' | 'list' | 'delete';

export interface MemStoreOptions {
  /** What conditionalPut() answers (AWS: true, Swift 2.30: false). Default true. */
  conditional?: boolean;
  /** Called before every request: throw to make it fail (e.g. a StoreError PAGESTACK_STORE_UNAVAILABLE). */
  fault?: (op: MemOp, key: string) => void;
}

export interface MemStats {
  get: number;
  put: number;
  head: number;
  list: number;
  delete: number;
  /** Bytes of bodies taken by put. */
  bytesPut: number;
  /** Bytes returned by get. */
  bytesGot: number;
}

interface Entry {
  body: Uint8Array;
  modified: Date;
  etag: string;
}

export class MemObjectStore implements ObjectStore {
  readonly objects = new Map<string, Entry>();
  readonly stats: MemStats = { get: 0, put: 0, head: 0, list: 0, delete: 0, bytesPut: 0, bytesGot: 0 };
  fault: ((op: MemOp, key: string) => void) | undefined;
  private readonly conditional: boolean;
  private closed = false;
  private seq = 0;

  constructor(
    readonly location = 's3://mem-bucket/root',
    opts: MemStoreOptions = {},
  ) {
    this.conditional = opts.conditional ?? true;
    this.fault = opts.fault;
  }

  private url(key: string): string {
    return key === '' ? this.location : `${this.location}/${key}`;
  }

  private enter(op: MemOp, key: string): void {
    if (this.closed) {
      throw new StoreError(`${this.url(key)}: ${op.toUpperCase()}: the store is closed`, 'PAGESTACK_STORE', {
        object: this.url(key),
      });
    }
    this.stats[op]++;
    this.fault?.(op, key);
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    this.enter('get', key);
    const e = this.objects.get(key);
    const doing = range ? `GET bytes ${range.start}-${range.end - 1}` : 'GET';
    if (!e) {
      throw new StoreError(`${this.url(key)}: ${doing}: no such object`, 'PAGESTACK_STORE_NOT_FOUND', {
        object: this.url(key),
      });
    }
    let out: Uint8Array;
    if (range) {
      if (range.end <= range.start) return new Uint8Array(0);
      out = e.body.slice(range.start, range.end);
      if (out.length !== range.end - range.start) {
        throw new StoreError(
          `${this.url(key)}: ${doing}: expected ${range.end - range.start} bytes, got ${out.length} (the object is shorter)`,
          'PAGESTACK_STORE_CORRUPT',
          { object: this.url(key) },
        );
      }
    } else {
      out = e.body.slice();
    }
    this.stats.bytesGot += out.length;
    return out;
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<void> {
    this.enter('put', key);
    if (opts.ifNoneMatch && this.conditional && this.objects.has(key)) {
      throw new StoreError(`${this.url(key)}: PUT: the object exists already`, 'PAGESTACK_STORE_CONFLICT', {
        object: this.url(key),
      });
    }
    this.stats.bytesPut += body.length;
    this.objects.set(key, { body: body.slice(), modified: new Date(), etag: `"m${++this.seq}"` });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    this.enter('head', key);
    const e = this.objects.get(key);
    return e ? { key, size: e.body.length, modified: e.modified, etag: e.etag } : null;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.enter('list', prefix);
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort(byBytes);
    for (const key of keys) {
      const e = this.objects.get(key);
      if (e) yield { key, size: e.body.length, modified: e.modified, etag: e.etag };
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) {
      this.enter('delete', k);
      this.objects.delete(k);
    }
  }

  async conditionalPut(): Promise<boolean> {
    return this.conditional;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** S3 lists keys in the order of their UTF-8 bytes. */
function byBytes(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}
