/**
 * The port the store layout talks to: content-addressed immutable blobs plus a few small mutable
 * refs. The S3 adapter (src/source/store/s3-blobs.ts) maps it onto object keys; an OCI registry
 * can back the same layout (blobs by digest, refs as tags/manifests). No Node APIs, no I/O here.
 */

/** A blob in the store: named by the lowercase hex SHA-256 of its bytes. */
export interface BlobInfo {
  readonly hash: string;
  readonly size: number;
  readonly modified: Date;
}

/** A ref object (the only mutable kind): its key below the refs root and when it was written. */
export interface RefInfo {
  readonly key: string;
  readonly modified: Date;
}

export interface GetBlobOptions {
  /** Bytes start up to end (exclusive), unchecked. */
  readonly range?: { start: number; end: number };
  /** The size the blob must have (a frame's, from the manifest): a shorter one is truncated. */
  readonly size?: number;
  /** What the blob is, for messages: the layer and file it belongs to. */
  readonly where?: string;
}

export interface BlobStore {
  /** Where the store is, for messages (never with credentials). */
  readonly location: string;
  /** Whether a blob is stored (HEAD). */
  hasBlob(hash: string): Promise<boolean>;
  /**
   * A blob's bytes, checked against its hash (a whole blob), or a range of it unchecked (the
   * caller checks what it can: a page against its page hash). Throws StoreError
   * PAGESTACK_STORE_NOT_FOUND when absent, PAGESTACK_STORE_CORRUPT on a hash mismatch or short read.
   */
  getBlob(hash: string, opts?: GetBlobOptions): Promise<Uint8Array>;
  /** Stores a blob (idempotent: the name is the content). */
  putBlob(hash: string, bytes: Uint8Array): Promise<void>;
  listBlobs(): AsyncIterable<BlobInfo>;
  deleteBlobs(hashes: readonly string[]): Promise<void>;
  /** Ref objects whose key starts with `prefix` (keys relative to the refs root). */
  listRefs(prefix: string): AsyncIterable<RefInfo>;
  /** A ref's body, or null when absent. */
  getRef(key: string): Promise<Uint8Array | null>;
  /** Writes a ref; with ifNoneMatch (only where conditionalPut() is true) throws StoreError PAGESTACK_STORE_CONFLICT if it exists. */
  putRef(key: string, body: Uint8Array, opts?: { ifNoneMatch?: boolean }): Promise<void>;
  deleteRefs(keys: readonly string[]): Promise<void>;
  /** Whether putRef honours ifNoneMatch (compare-and-swap), probed once. */
  conditionalPut(): Promise<boolean>;
  close(): Promise<void>;
}
