/**
 * A key-level object store: what the stack layout in object storage (src/store) needs from a
 * server, and nothing more. The S3 client behind it (./s3-store.ts) is loaded only when an
 * `s3://` target is opened (`openS3Store`), so commands on local stacks never load the AWS SDK.
 *
 * Keys are relative to the store's root: the bucket and prefix of the URL it was opened with
 * (`s3://BUCKET/PREFIX` + key `a/b` is object `PREFIX/a/b` of BUCKET). `location` is that root as
 * the user wrote it, for messages; credentials never appear in it (they come from the AWS SDK's
 * chain, never from the URL).
 *
 * No AWS types here: tests run the layout over an in-memory store (test/helpers/mem-store.ts) as
 * well as over real Swift.
 */
import { UsageError } from '../../errors.js';

/** Bytes `start` up to `end` (exclusive) of an object. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectInfo {
  /** Relative to the store's root, like the keys given to `get` and `put`. */
  key: string;
  size: number;
  modified: Date;
  etag?: string;
}

export interface PutOptions {
  /** Write only if no object has the key: StoreError PAGESTACK_STORE_CONFLICT if one has (only when conditionalPut() is true). */
  ifNoneMatch?: boolean;
  contentType?: string;
}

export interface ObjectStore {
  /** s3://bucket/prefix as the user wrote it, never with credentials: for messages. */
  readonly location: string;
  /** Whole object, or the range; throws StoreError code PAGESTACK_STORE_NOT_FOUND when absent. */
  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Uint8Array>;
  /** Idempotent write; with ifNoneMatch, throws StoreError PAGESTACK_STORE_CONFLICT if the key exists
   *  (only when conditionalPut() is true). Large bodies go multipart. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<void>;
  /** The object's size and date, or null when there is none. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix` (relative to the root), in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes the objects; keys that do not exist are no error. */
  delete(keys: readonly string[]): Promise<void>;
  /** Whether the server honours If-None-Match: * on PUT (AWS yes, Swift 2.30 s3api no), probed once. */
  conditionalPut(): Promise<boolean>;
  close(): Promise<void>;
}

/** An `s3://` URL taken apart. */
export interface S3Url {
  bucket: string;
  /** Everything after the bucket, without `@N` and without a trailing `/` ('' for the bucket itself). */
  path: string;
  /** `path` up to its last `/` ('' when `path` has one segment or none): where NAME lives. */
  prefix: string;
  /** The last segment of `path` ('' for the bucket itself): a stack's NAME. */
  name: string;
  /** The `@N` suffix (a layer as `show` numbers them), or undefined. */
  layer: number | undefined;
  /** `s3://bucket/path`, without `@N`: for messages. */
  location: string;
}

/** Whether `s` names an object store target (`s3://...`), to be opened here rather than on disk. */
export function isS3Url(s: string): boolean {
  return s.startsWith('s3://');
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * `s3://BUCKET[/PREFIX/NAME][@N]` taken apart. Rejects (UsageError, one line) what S3 cannot name
 * or what would be ambiguous: a bad bucket name, credentials or a port in the URL, empty, `.` or
 * `..` segments, control characters, a query or fragment, an `@` suffix that is not a layer number.
 */
export function parseS3Url(url: string): S3Url {
  const bad = (what: string): never => {
    throw new UsageError(`${shown(url)}: not an object store URL: ${what}`, { url: shown(url) });
  };
  if (!isS3Url(url)) bad('expected s3://BUCKET/PREFIX/NAME[@N]');
  let rest = url.slice('s3://'.length);
  if (/[\u0000-\u001f\u007f]/.test(rest)) bad('control characters');
  if (/[?#]/.test(rest)) bad('a query or fragment (? or #)');
  let layer: number | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const n = rest.slice(at + 1);
    if (!/^(0|[1-9][0-9]{0,8})$/.test(n)) bad(`"@${n}" is not a layer number (@0, @1, ...)`);
    layer = Number(n);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket.includes('@') || bucket.includes(':')) {
    bad('credentials or a port in the URL (give the endpoint with --endpoint, credentials the AWS way)');
  }
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) {
    bad(`bucket "${bucket}": 3 to 63 lower-case letters, digits, dots and hyphens`);
  }
  while (path.endsWith('/')) path = path.slice(0, -1);
  if (path !== '') {
    for (const seg of path.split('/')) {
      if (seg === '' || seg === '.' || seg === '..') bad(`path "${path}": empty, "." or ".." segment`);
      if (seg.includes('@')) bad(`path "${path}": "@" only before a layer number at the end`);
    }
  }
  if (new TextEncoder().encode(path).length > 512) bad('the path is longer than 512 bytes');
  const cut = path.lastIndexOf('/');
  return {
    bucket,
    path,
    prefix: cut < 0 ? '' : path.slice(0, cut),
    name: cut < 0 ? path : path.slice(cut + 1),
    layer,
    location: path === '' ? `s3://${bucket}` : `s3://${bucket}/${path}`,
  };
}

/** The URL for a one-line message: what looks like credentials (`s3://KEY:SECRET@`) cut, control characters escaped. */
function shown(url: string): string {
  const m = /^s3:\/\/[^/@]*:[^/@]*@/.exec(url);
  const cut = m ? `s3://<credentials removed>@${url.slice(m[0].length)}` : url;
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface OpenS3Options {
  /** The S3 endpoint (`--endpoint`); else AWS_ENDPOINT_URL, else AWS. */
  endpoint?: string | undefined;
  /** Create the bucket when it does not exist (a push); else a missing bucket is PAGESTACK_STORE_NOT_FOUND. */
  create?: boolean | undefined;
  /** Requests per object before giving up (default 5). */
  maxAttempts?: number | undefined;
  /** The first retry's delay in ms (default 200; doubled each time, with jitter). */
  retryBaseMs?: number | undefined;
  /** A request's time limit in ms (default 30000). */
  requestTimeoutMs?: number | undefined;
  /** Bodies from this size up go as multipart uploads (default 16 MiB). */
  multipartThreshold?: number | undefined;
  /** Keys per LIST request (default 1000, the most S3 gives). */
  listPageSize?: number | undefined;
}

/**
 * The object store at `url` (`s3://BUCKET[/PREFIX]`, no `@N`): keys are relative to PREFIX. Loads
 * the AWS SDK (only now). Checks that the bucket is there (or creates it with `create`), so a
 * wrong bucket, endpoint or credentials fail here with one line.
 */
export async function openS3Store(url: string, opts: OpenS3Options = {}): Promise<ObjectStore> {
  const u = parseS3Url(url);
  if (u.layer !== undefined) {
    throw new UsageError(`${url}: a store root has no layer (@${u.layer})`, { url: u.location });
  }
  const { S3ObjectStore } = await import('./s3-store.js');
  return S3ObjectStore.open(u, opts);
}

/** `s3://bucket/prefix/key` for messages. */
export function objectUrl(location: string, key: string): string {
  return key === '' ? location : `${location}/${key}`;
}
