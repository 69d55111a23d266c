/**
 * The ObjectStore (./object-store.ts) over S3, with the AWS SDK for JavaScript v3. Loaded only by
 * `openS3Store`'s dynamic import: this module is what pulls the SDK in.
 *
 * - Credentials come from the SDK's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 *   AWS_PROFILE, ~/.aws/config and credentials, IMDS, ...), never from the URL, and never appear
 *   in a message: messages are built here from the object, the operation, the HTTP status and the
 *   server's error code, never from the SDK's text or the request.
 * - The endpoint is `--endpoint`, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; with one that is not
 *   AWS, addressing is path-style (`http://host/bucket/key`) and the region defaults to us-east-1
 *   when the chain has none.
 * - Every request is tried up to `maxAttempts` times (default 5) when the server answers 5xx or
 *   throttles, the connection is reset or refused, or a request times out, with exponential backoff
 *   and jitter between tries; then one StoreError PAGESTACK_STORE_UNAVAILABLE line naming the object.
 *   The SDK's own retries are off, so the count is ours. 4xx answers are not retried.
 * - Bodies from `multipartThreshold` (16 MiB) up go as multipart uploads (lib-storage `Upload`,
 *   8 MiB parts, 4 at a time), which aborts the upload on failure; a retry starts it again.
 * - A keep-alive agent with 64 sockets, so parallel frame reads reuse connections.
 * - Checksums only where the API requires them (WHEN_REQUIRED): servers other than AWS (Swift's
 *   s3api) do not take the SDK's newer trailing checksums.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand,
  type CreateBucketCommandInput,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type ErrorCode, StoreError, UsageError } from '../../errors.js';
import type { ByteRange, ObjectInfo, ObjectStore, OpenS3Options, PutOptions, S3Url } from './object-store.js';

const MiB = 1024 * 1024;
const PART_SIZE = 8 * MiB;
const PART_QUEUE = 4;
const DELETE_BATCH = 1000;
const MAX_DELAY_MS = 10_000;

/** What a failed request was, for the one line of its error. */
interface Failure {
  code: ErrorCode;
  /** What happened, in words, without credentials. */
  what: string;
  retry: boolean;
  status?: number | undefined;
}

/** Error names (S3 codes) that mean "try again later". */
const THROTTLE = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'TooManyRequests',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
]);
const AUTH = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AuthorizationHeaderMalformed',
]);
/** Node's socket errors that a later try may not meet. */
const NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
  cause?: unknown;
}

/** Sorts an error of the SDK or of Node's sockets into a code, words and whether to retry. */
export function classify(e: unknown): Failure {
  const err = (e ?? {}) as SdkError;
  const name = err.name ?? '';
  const status = err.$metadata?.httpStatusCode ?? err.$response?.statusCode;
  const netCode = err.code ?? (err.cause as SdkError | undefined)?.code;
  if (name === 'TimeoutError' || name === 'RequestTimeout' || netCode === 'ETIMEDOUT') {
    return { code: 'PAGESTACK_STORE_UNAVAILABLE', what: 'the request timed out', retry: true };
  }
  if (netCode && NET_CODES.has(netCode)) {
    return { code: 'PAGESTACK_STORE_UNAVAILABLE', what: `connection failed (${netCode})`, retry: true };
  }
  const tag = status === undefined ? name : `${name || 'error'}, HTTP ${status}`;
  if (AUTH.has(name) || status === 401 || status === 403) {
    const what =
      name === 'CredentialsProviderError'
        ? 'no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)'
        : `the server refused the credentials (${tag})`;
    return { code: 'PAGESTACK_STORE_AUTH', what, retry: false, status };
  }
  if (name === 'NoSuchBucket')
    return { code: 'PAGESTACK_STORE_NOT_FOUND', what: 'no such bucket', retry: false, status };
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return { code: 'PAGESTACK_STORE_NOT_FOUND', what: 'no such object', retry: false, status };
  }
  if (name === 'PreconditionFailed' || status === 412 || name === 'ConditionalRequestConflict') {
    return { code: 'PAGESTACK_STORE_CONFLICT', what: 'the object exists already', retry: false, status };
  }
  if (THROTTLE.has(name) || status === 429 || (status !== undefined && status >= 500 && status !== 501)) {
    return { code: 'PAGESTACK_STORE_UNAVAILABLE', what: `the server failed (${tag})`, retry: true, status };
  }
  if (status === undefined && !name) {
    return { code: 'PAGESTACK_STORE', what: 'the request failed', retry: false };
  }
  if (status === undefined && name === 'Error' && netCode) {
    // a socket failure without a status: its code, not its text (which may quote a request)
    return { code: 'PAGESTACK_STORE_UNAVAILABLE', what: `the request failed (${netCode})`, retry: true };
  }
  return { code: 'PAGESTACK_STORE', what: `the server refused (${tag})`, retry: false, status };
}

function isAbort(e: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (e as SdkError | undefined)?.name === 'AbortError';
}

/** An endpoint URL checked: http(s), no credentials in it (they are refused without being echoed). */
function checkEndpoint(endpoint: string): URL {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new UsageError(`endpoint: not a URL (expected http://HOST:PORT or https://HOST)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`endpoint ${u.protocol}//${u.host}: expected http:// or https://`);
  }
  if (u.username || u.password) {
    throw new UsageError(
      `endpoint ${u.protocol}//${u.host}: credentials in the endpoint URL are not taken (use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)`,
    );
  }
  return u;
}

function isAwsHost(host: string): boolean {
  return host === 'amazonaws.com' || host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;
  private conditional: Promise<boolean> | undefined;
  private batchDelete = true;
  /** Requests by kind, and tries that failed and were repeated: for tests and benchmarks. */
  readonly stats = { requests: 0, retries: 0, batchDeletes: 0, singleDeletes: 0 };
  private closed = false;

  private constructor(
    private readonly client: S3Client,
    private readonly agents: { http: HttpAgent; https: HttpsAgent },
    private readonly bucket: string,
    path: string,
    private readonly maxAttempts: number,
    private readonly retryBaseMs: number,
    private readonly multipartThreshold: number,
    private readonly listPageSize: number,
  ) {
    this.root = path === '' ? '' : `${path}/`;
    this.location = path === '' ? `s3://${bucket}` : `s3://${bucket}/${path}`;
  }

  /** The store at `url`'s bucket and path; checks the bucket (creates it with `create`). */
  static async open(url: S3Url, opts: OpenS3Options): Promise<S3ObjectStore> {
    const env = process.env;
    const endpoint = opts.endpoint ?? (env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || undefined);
    const ep = endpoint === undefined ? undefined : checkEndpoint(endpoint);
    const custom = ep !== undefined && !isAwsHost(ep.hostname);
    const timeout = opts.requestTimeoutMs ?? 30_000;
    // the SDK warns on stderr that its releases after January 2027 need Node 22; the lock pins one
    // that runs on Node 20, and a CLI's stderr is for its own one-line errors
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const agents = {
      http: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
      https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
    };
    const config: S3ClientConfig = {
      maxAttempts: 1,
      forcePathStyle: custom,
      followRegionRedirects: !custom,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: agents.http,
        httpsAgent: agents.https,
        connectionTimeout: Math.min(timeout, 10_000),
        requestTimeout: timeout,
        throwOnRequestTimeout: true,
      },
    };
    if (ep) config.endpoint = ep.href.replace(/\/$/, '');
    let client = new S3Client(config);
    // a region from the chain (AWS_REGION, the profile), else us-east-1 (what Swift and most others take)
    const hasRegion = await client.config.region().then(
      (r) => typeof r === 'string' && r !== '',
      () => false,
    );
    if (!hasRegion) {
      client.destroy();
      client = new S3Client({ ...config, region: 'us-east-1' });
    }
    const store = new S3ObjectStore(
      client,
      agents,
      url.bucket,
      url.path,
      Math.max(1, opts.maxAttempts ?? 5),
      opts.retryBaseMs ?? 200,
      opts.multipartThreshold ?? 16 * MiB,
      opts.listPageSize ?? 1000,
    );
    try {
      await store.ensureBucket(opts.create === true, (await client.config.region()) as string);
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  private async ensureBucket(create: boolean, region: string): Promise<void> {
    const where = `s3://${this.bucket}`;
    try {
      await this.attempt(where, 'HEAD bucket', undefined, (s) =>
        this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: s }),
      );
      return;
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'PAGESTACK_STORE_NOT_FOUND')) throw e;
      if (!create) {
        throw new StoreError(`${where}: HEAD bucket: no such bucket`, 'PAGESTACK_STORE_NOT_FOUND', {
          object: where,
        });
      }
    }
    const input: CreateBucketCommandInput = { Bucket: this.bucket };
    if (region !== 'us-east-1') input.CreateBucketConfiguration = { LocationConstraint: region as never };
    try {
      await this.attempt(where, 'create bucket', undefined, (s) =>
        this.client.send(new CreateBucketCommand(input), { abortSignal: s }),
      );
    } catch (e) {
      // created meanwhile by another push of ours: fine
      if (e instanceof StoreError && /BucketAlreadyOwnedByYou/.test(e.message)) return;
      throw e;
    }
  }

  private full(key: string): string {
    if (key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '.')) {
      throw new StoreError(`${this.location}: key "${key}": not a relative key`, 'PAGESTACK_STORE', {
        object: this.location,
      });
    }
    return this.root + key;
  }

  private url(key: string): string {
    return `s3://${this.bucket}/${this.root}${key}`;
  }

  /**
   * Runs `op` up to maxAttempts times while it fails in a way worth retrying, sleeping
   * base * 2^i (half of it random) between tries; then throws one StoreError line.
   */
  private async attempt<T>(
    object: string,
    doing: string,
    signal: AbortSignal | undefined,
    op: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    if (this.closed)
      throw new StoreError(`${object}: ${doing}: the store is closed`, 'PAGESTACK_STORE', { object });
    let last: Failure | undefined;
    for (let i = 0; i < this.maxAttempts; i++) {
      if (i > 0) {
        const d = Math.min(MAX_DELAY_MS, this.retryBaseMs * 2 ** (i - 1));
        await sleep(d / 2 + Math.random() * (d / 2), undefined, { signal }).catch(() => undefined);
      }
      signal?.throwIfAborted();
      this.stats.requests++;
      if (i > 0) this.stats.retries++;
      try {
        return await op(signal);
      } catch (e) {
        if (isAbort(e, signal)) throw signal?.reason ?? e;
        if (e instanceof StoreError) throw e;
        // a bug of ours or of the SDK, not an answer of the server: not retried, not disguised
        if ((e instanceof TypeError || e instanceof RangeError) && !(e as SdkError).$metadata) throw e;
        last = classify(e);
        if (!last.retry) break;
      }
    }
    const f = last!;
    const tries = f.retry && this.maxAttempts > 1 ? ` after ${this.maxAttempts} tries` : '';
    const data: Record<string, string | number> = { object, op: doing };
    if (f.status !== undefined) data['status'] = f.status;
    throw new StoreError(`${object}: ${doing}: ${f.what}${tries}`, f.code, data);
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Uint8Array> {
    const Key = this.full(key);
    const object = this.url(key);
    let Range: string | undefined;
    let doing = 'GET';
    if (range) {
      if (!(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0)) {
        throw new StoreError(`${object}: GET: bad range ${range.start}-${range.end}`, 'PAGESTACK_STORE', {
          object,
        });
      }
      if (range.end <= range.start) return new Uint8Array(0);
      Range = `bytes=${range.start}-${range.end - 1}`;
      doing = `GET bytes ${range.start}-${range.end - 1}`;
    }
    const body = await this.attempt(object, doing, signal, async (s) => {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }), {
        abortSignal: s,
      });
      if (!res.Body) throw Object.assign(new Error('no body'), { name: 'Error', code: 'ECONNRESET' });
      const bytes = await res.Body.transformToByteArray();
      if (res.ContentLength !== undefined && bytes.length !== res.ContentLength) {
        // the connection ended early: a retry may get it whole
        throw Object.assign(new Error('short body'), { name: 'Error', code: 'ECONNRESET' });
      }
      return bytes;
    });
    if (range && body.length !== range.end - range.start) {
      throw new StoreError(
        `${object}: ${doing}: expected ${range.end - range.start} bytes, got ${body.length} (the object is shorter)`,
        'PAGESTACK_STORE_CORRUPT',
        { object, expected: range.end - range.start, got: body.length },
      );
    }
    return body;
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<void> {
    const Key = this.full(key);
    const object = this.url(key);
    const conditional = opts.ifNoneMatch === true && (await this.conditionalPut());
    const base = { Bucket: this.bucket, Key, ContentType: opts.contentType ?? 'application/octet-stream' };
    if (body.length >= this.multipartThreshold && !conditional) {
      await this.attempt(object, `PUT (multipart, ${body.length} bytes)`, undefined, async () => {
        const up = new Upload({
          client: this.client,
          params: { ...base, Body: body },
          partSize: PART_SIZE,
          queueSize: PART_QUEUE,
          leavePartsOnError: false,
        });
        await up.done();
      });
      return;
    }
    await this.attempt(object, 'PUT', undefined, (s) =>
      this.client.send(
        new PutObjectCommand({
          ...base,
          Body: body,
          ContentLength: body.length,
          ...(conditional ? { IfNoneMatch: '*' } : {}),
        }),
        { abortSignal: s },
      ),
    );
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const Key = this.full(key);
    try {
      const res = await this.attempt(this.url(key), 'HEAD', undefined, (s) =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: s }),
      );
      const info: ObjectInfo = {
        key,
        size: res.ContentLength ?? 0,
        modified: res.LastModified ?? new Date(0),
      };
      if (res.ETag) info.etag = res.ETag;
      return info;
    } catch (e) {
      if (e instanceof StoreError && e.code === 'PAGESTACK_STORE_NOT_FOUND') return null;
      throw e;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const Prefix = prefix === '' ? this.root : this.full(prefix);
    const object = this.url(prefix);
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.attempt(object, 'LIST', undefined, (s) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix,
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
          { abortSignal: s },
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.root)) continue;
        const info: ObjectInfo = {
          key: o.Key.slice(this.root.length),
          size: o.Size ?? 0,
          modified: o.LastModified ?? new Date(0),
        };
        if (o.ETag) info.etag = o.ETag;
        yield info;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !token) {
        throw new StoreError(
          `${object}: LIST: a truncated listing without a continuation token`,
          'PAGESTACK_STORE',
          {
            object,
          },
        );
      }
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    const full = keys.map((k) => this.full(k));
    for (let i = 0; i < full.length; i += DELETE_BATCH) {
      const batch = full.slice(i, i + DELETE_BATCH);
      if (this.batchDelete && batch.length > 1) {
        const done = await this.deleteBatch(batch);
        if (done) continue;
      }
      for (const Key of batch) {
        this.stats.singleDeletes++;
        await this.attempt(`s3://${this.bucket}/${Key}`, 'DELETE', undefined, (s) =>
          this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: s }),
        );
      }
    }
  }

  /** One DeleteObjects; false when the server does not take it (then single deletes, from now on). */
  private async deleteBatch(batch: string[]): Promise<boolean> {
    const object = `s3://${this.bucket}/${batch[0]}`;
    const doing = `DELETE ${batch.length} objects`;
    let res: DeleteObjectsCommandOutput;
    try {
      res = await this.attempt(object, doing, undefined, (s) => {
        const cmd = new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        });
        // Swift's s3api (and S3 before 2025) requires Content-MD5 on a batch delete; the SDK now
        // sends a CRC32 instead. Added before signing (the build step), so it is signed too.
        cmd.middlewareStack.add(
          (next) => async (args) => {
            const req = args.request as { headers?: Record<string, string>; body?: unknown };
            if (req.headers && (typeof req.body === 'string' || req.body instanceof Uint8Array)) {
              req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
            }
            return next(args);
          },
          { step: 'build', name: 'pagestackContentMd5' },
        );
        return this.client.send(cmd, { abortSignal: s });
      });
      this.stats.batchDeletes++;
    } catch (e) {
      if (
        e instanceof StoreError &&
        (e.code === 'PAGESTACK_STORE' || e.data['status'] === 501) &&
        e.code !== 'PAGESTACK_STORE_AUTH'
      ) {
        this.batchDelete = false;
        return false;
      }
      throw e;
    }
    const failed = (res.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const f = failed[0]!;
      const one = classify({ name: f.Code ?? 'error' });
      throw new StoreError(
        `s3://${this.bucket}/${f.Key ?? '?'}: DELETE: ${one.what}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}`,
        one.code,
        { object: `s3://${this.bucket}/${f.Key ?? ''}`, op: 'DELETE' },
      );
    }
    return true;
  }

  conditionalPut(): Promise<boolean> {
    this.conditional ??= this.probeConditional();
    return this.conditional;
  }

  /**
   * Writes a probe object with If-None-Match: * twice: a server that honours it takes the first
   * and refuses the second (412); Swift 2.30 refuses the header (501 NotImplemented); one that
   * ignores it takes both. The probe is deleted afterwards.
   */
  private async probeConditional(): Promise<boolean> {
    const key = `.pagestack-probe-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const Key = this.full(key);
    const object = this.url(key);
    const send = () =>
      this.attempt(object, 'PUT If-None-Match', undefined, (s) =>
        this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key, Body: new Uint8Array(0), IfNoneMatch: '*' }),
          { abortSignal: s },
        ),
      );
    try {
      try {
        await send();
      } catch (e) {
        if (e instanceof StoreError && e.code === 'PAGESTACK_STORE') return false; // NotImplemented and the like
        throw e;
      }
      try {
        await send();
        return false; // taken twice: the header is ignored
      } catch (e) {
        if (e instanceof StoreError && e.code === 'PAGESTACK_STORE_CONFLICT') return true;
        if (e instanceof StoreError && e.code === 'PAGESTACK_STORE') return false;
        throw e;
      }
    } finally {
      await this.delete([key]).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
