/**
 * An ObjectStore in memory for the store layout's edge cases (corruption, races, kills): the keys,
 * bodies and dates are plain maps a test can change. Never the only server a feature is tested
 * against (test/store-swift.test.ts runs on real Swift).
 */
import { StoreError } from '../../src/errors.js';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions } from '../../src/source/s3/object-store.js';

export interface MemObject {
  body: Uint8Array;
  modified: Date;
}

export class MemObjectStore implements ObjectStore {
  readonly data = new Map<string, MemObject>();
  /** Counts of requests, for dedup and resume assertions. */
  puts = 0;
  /** Puts of blobs and stack refs (not of pushes' in-flight markers). */
  stored = 0;
  gets = 0;
  heads = 0;
  /** Called before each put (a test can throw to cut a push at a chosen object). */
  beforePut: ((key: string) => void) | null = null;
  /** Whether put honours ifNoneMatch. */
  cas = false;
  private clock = 0;

  constructor(readonly location: string) {}

  meta(key: string): MemObject {
    const o = this.data.get(key);
    if (!o) throw new Error(`no ${key}`);
    return o;
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.gets++;
    const o = this.data.get(key);
    if (!o) throw new StoreError(`${this.location}/${key}: no such object`, 'PAGESTACK_STORE_NOT_FOUND');
    const b = range ? o.body.subarray(range.start, Math.min(range.end, o.body.length)) : o.body;
    return new Uint8Array(b);
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<void> {
    this.beforePut?.(key);
    if (opts.ifNoneMatch && this.cas && this.data.has(key)) {
      throw new StoreError(`${this.location}/${key}: exists`, 'PAGESTACK_STORE_CONFLICT');
    }
    this.puts++;
    if (!key.startsWith('refs/inflight/')) this.stored++;
    // strictly increasing dates, as a server's clock would give for writes one after the other
    this.clock = Math.max(this.clock + 1, Date.now());
    this.data.set(key, { body: new Uint8Array(body), modified: new Date(this.clock) });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    this.heads++;
    const o = this.data.get(key);
    return o ? { key, size: o.body.length, modified: o.modified } : null;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) {
      const o = this.data.get(key);
      if (o) yield { key, size: o.body.length, modified: o.modified };
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.data.delete(k);
  }

  async conditionalPut(): Promise<boolean> {
    return this.cas;
  }

  async close(): Promise<void> {}
}
