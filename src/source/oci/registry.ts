/**
 * A registry client on Node's own `fetch`: the distribution spec's handful of HTTP calls.
 *
 *   GET/HEAD /v2/NAME/manifests/REF   Accept: every manifest and index type read (media.ts)
 *   PUT      /v2/NAME/manifests/REF   Content-Type: the manifest's type
 *   GET/HEAD /v2/NAME/blobs/DIGEST    (Range: bytes=A-B -> 206 + Content-Range; a registry MAY
 *                                      ignore Range and answer 200 with the whole blob)
 *   POST     /v2/NAME/blobs/uploads/  -> 202 + Location (an upload session)
 *   PATCH    LOCATION                 Content-Range: A-B, one chunk, in order -> 202 + Location
 *   PUT      LOCATION?digest=D        (the whole blob as body: monolithic; empty after PATCHes)
 *   GET      /v2/NAME/tags/list
 *
 * Why not an npm client: none pushes, reads byte ranges and speaks OCI 1.1 at once (the read-only
 * ones fetch whole blobs; docker-modem & co. talk to a daemon, not a registry), and the protocol is
 * this table plus auth (auth.ts).
 *
 * Every answer is checked before its bytes are used: manifests are bounded (MAX_MANIFEST_BYTES)
 * and typed (media.ts); a blob read whole is hashed and must match its digest and size; a
 * ranged read must come back as the range asked (Content-Range) and as many bytes. Where a
 * registry ignores Range, the whole blob is fetched once, verified, and kept in a bounded cache
 * (RANGE_CACHE_BYTES) for the next reads of it. Any other answer is a RegistryError naming the
 * reference, what was asked and what was expected: never wrong bytes.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { RegistryError } from '../../errors.js';
import { basicHeader, type Credentials, findCredentials, parseChallenge } from './auth.js';
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isIndex,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  parseManifestDoc,
  selectPlatform,
} from './media.js';
import { formatImageRef, type ImageRef, manifestReference } from './ref.js';
import { tlsVerifyDefault } from './settings.js';

export interface RegistryOptions {
  /** false: plain HTTP (podman's --tls-verify=false, for a local registry). Default: the CLI's setting. */
  tlsVerify?: boolean;
  /** Credentials; default: from the auth files (auth.ts); null: anonymous. */
  credentials?: Credentials | null;
  /** Bytes of whole blobs kept for registries that ignore Range (default 256 MiB). */
  rangeCacheBytes?: number;
  /** Blobs above this many bytes are uploaded in PATCH chunks of this size (default 32 MiB). */
  chunkBytes?: number;
  /** Blobs read whole into memory are at most this large (default 256 MiB). */
  maxMemoryBlob?: number;
}

export const RANGE_CACHE_BYTES = 256 * 1024 * 1024;
export const UPLOAD_CHUNK_BYTES = 32 * 1024 * 1024;
/** Blobs up to this size go in one POST where the registry takes it (frames, files, manifests). */
export const SINGLE_POST_BYTES = 4 * 1024 * 1024;

export function sha256Digest(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export interface FetchedManifest {
  /** The manifest's digest (computed from its bytes). */
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
  doc: ImageManifest | ImageIndex;
}

/** Bytes a registry upload reads, by position (a file, or memory). */
export interface BlobBody {
  readonly size: number;
  readonly digest: string;
  read(position: number, length: number): Promise<Uint8Array>;
}

interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** What the request is about, for messages ("manifest step2", "blob sha256:..."). */
  what: string;
  push?: boolean;
  /** Statuses that are an answer (others are errors). */
  ok: readonly number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RegistryClient {
  readonly ref: ImageRef;
  /** The reference as the user wrote it, for messages. */
  readonly name: string;
  private readonly base: string;
  private readonly creds: Credentials | null;
  private auth: { pull?: string; push?: string } = {};
  private readonly rangeCache = new Map<string, Uint8Array>();
  private rangeCacheUsed = 0;
  private readonly rangeCacheMax: number;
  readonly chunkBytes: number;
  private readonly maxMemoryBlob: number;
  /** Whether the registry takes single-request uploads (null until tried). */
  private singlePost: boolean | null = null;
  /** Whether the registry answered a Range with 206 (null until the first ranged read). */
  rangeSupported: boolean | null = null;

  constructor(ref: ImageRef, opts: RegistryOptions = {}) {
    this.ref = ref;
    this.name = formatImageRef(ref);
    const tls = opts.tlsVerify ?? tlsVerifyDefault();
    this.base = `${tls ? 'https' : 'http'}://${ref.registry}/v2/${ref.repository}`;
    this.creds =
      opts.credentials === undefined ? findCredentials(ref.registry, ref.repository) : opts.credentials;
    this.rangeCacheMax = opts.rangeCacheBytes ?? RANGE_CACHE_BYTES;
    this.chunkBytes = opts.chunkBytes ?? UPLOAD_CHUNK_BYTES;
    this.maxMemoryBlob = opts.maxMemoryBlob ?? 256 * 1024 * 1024;
  }

  /** Throws the one-line error: `REFERENCE: WHAT: DETAIL`. */
  private fail(what: string, detail: string, code?: ConstructorParameters<typeof RegistryError>[1]): never {
    throw new RegistryError(`${this.name}: ${what}: ${detail}`, code, { reference: this.name });
  }

  private async send(url: string, method: string, o: RequestOptions): Promise<Response> {
    const scope = o.push ? 'push' : 'pull';
    const idempotent = method === 'GET' || method === 'HEAD';
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...o.headers };
      const auth = this.auth[scope] ?? this.auth.push;
      if (auth) headers['authorization'] = auth;
      let res: Response;
      try {
        const init: RequestInit = { method, headers, redirect: 'follow' };
        if (o.body !== undefined) init.body = o.body as Uint8Array<ArrayBuffer>; // fetch takes any bytes; the DOM typing wants an ArrayBuffer-backed view
        res = await fetch(url, init);
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        if (idempotent && attempt < 2) {
          await sleep(200 * 4 ** attempt);
          continue;
        }
        this.fail(
          o.what,
          `${method} ${url} failed (${cause?.code ?? cause?.message ?? (e as Error).message}); expected the registry to answer${url.startsWith('https:') ? ' (a plain-HTTP registry needs --tls-verify=false)' : ''}`,
          'PAGESTACK_REGISTRY_UNAVAILABLE',
        );
      }
      if (res.status === 401 && !headers['authorization']?.startsWith('Bearer') && attempt < 3) {
        const challenge = res.headers.get('www-authenticate');
        await res.body?.cancel();
        if (challenge && (await this.authenticate(challenge, scope, o.what))) continue;
        this.fail(
          o.what,
          `HTTP 401 unauthorized${this.creds ? ' with the credentials of the auth file' : ' (no credentials for this registry in REGISTRY_AUTH_FILE, containers/auth.json or ~/.docker/config.json)'}; expected access to ${this.ref.repository}`,
          'PAGESTACK_REGISTRY_AUTH',
        );
      }
      if (res.status >= 500 && idempotent && attempt < 2) {
        await res.body?.cancel();
        await sleep(200 * 4 ** attempt);
        continue;
      }
      if (o.ok.includes(res.status)) return res;
      const text = await res.text().catch(() => '');
      const detail = registryErrorText(text);
      if (res.status === 401 || res.status === 403) {
        this.fail(
          o.what,
          `HTTP ${res.status} ${res.status === 401 ? 'unauthorized' : 'denied'}${detail}; expected access to ${this.ref.repository}`,
          'PAGESTACK_REGISTRY_AUTH',
        );
      }
      if (res.status === 404)
        this.fail(o.what, `HTTP 404 not found${detail}`, 'PAGESTACK_REGISTRY_NOT_FOUND');
      if (res.status === 416)
        this.fail(o.what, `HTTP 416 range not satisfiable${detail}`, 'PAGESTACK_REGISTRY_RANGE');
      if (res.status >= 500)
        this.fail(o.what, `HTTP ${res.status}${detail}`, 'PAGESTACK_REGISTRY_UNAVAILABLE');
      this.fail(o.what, `HTTP ${res.status}${detail}; expected ${o.ok.join(' or ')}`);
    }
  }

  /** Answers a challenge; true when there is now an Authorization to send. */
  private async authenticate(header: string, scope: 'pull' | 'push', what: string): Promise<boolean> {
    const c = parseChallenge(header);
    if (!c) return false;
    if (c.scheme === 'basic') {
      if (!this.creds) return false;
      this.auth[scope] = basicHeader(this.creds);
      return true;
    }
    if (c.scheme !== 'bearer' || !c.params['realm']) return false;
    const url = new URL(c.params['realm']);
    if (c.params['service']) url.searchParams.set('service', c.params['service']);
    url.searchParams.set(
      'scope',
      c.params['scope'] ?? `repository:${this.ref.repository}:${scope === 'push' ? 'pull,push' : 'pull'}`,
    );
    const headers: Record<string, string> = {};
    if (this.creds) headers['authorization'] = basicHeader(this.creds);
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (e) {
      this.fail(
        what,
        `token request to ${url.origin} failed (${(e as Error).message}); expected a bearer token`,
        'PAGESTACK_REGISTRY_AUTH',
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      this.fail(
        what,
        `token request to ${url.origin}${url.pathname} answered HTTP ${res.status}; expected a bearer token${this.creds ? '' : ' (no credentials found for this registry)'}`,
        'PAGESTACK_REGISTRY_AUTH',
      );
    }
    const body = await readBounded(res, 1024 * 1024, () =>
      this.fail(what, 'token answer above 1 MiB', 'PAGESTACK_REGISTRY_AUTH'),
    );
    let tok: string | undefined;
    try {
      const j = JSON.parse(new TextDecoder().decode(body)) as { token?: string; access_token?: string };
      tok = j.token ?? j.access_token;
    } catch {}
    if (!tok) this.fail(what, 'token answer without "token"', 'PAGESTACK_REGISTRY_AUTH');
    this.auth[scope] = `Bearer ${tok}`;
    return true;
  }

  /** GET /v2/ : whether the registry answers (and who we are to it). */
  async ping(): Promise<void> {
    const url = this.base.slice(0, this.base.indexOf('/v2/') + 4);
    await this.send(url, 'GET', { what: 'API version check', ok: [200] });
  }

  /** A manifest or index by tag or digest, bounded, typed and (by digest) verified. */
  async getManifest(reference: string = manifestReference(this.ref)): Promise<FetchedManifest> {
    const what = `manifest ${reference}`;
    const res = await this.send(`${this.base}/manifests/${reference}`, 'GET', {
      what,
      headers: { accept: MANIFEST_ACCEPT },
      ok: [200],
    });
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES, (n) =>
      this.fail(
        what,
        `${n === null ? 'more than' : n} bytes, above the ${MAX_MANIFEST_BYTES}-byte manifest limit; expected a manifest`,
        'PAGESTACK_REGISTRY_TOO_LARGE',
      ),
    );
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      this.fail(what, `its bytes hash to ${digest}; expected ${reference}`, 'PAGESTACK_REGISTRY_DIGEST');
    }
    const ct = res.headers.get('content-type')?.split(';')[0]?.trim() ?? null;
    const doc = parseManifestDoc(bytes, ct, `${this.name}: ${what}`);
    return { digest, mediaType: doc.mediaType, bytes, doc };
  }

  /** The image manifest the reference names, through an index (platform linux/this arch). */
  resolveImage(): Promise<{ manifest: ImageManifest; digest: string; bytes: Uint8Array }> {
    this.resolved ??= this.resolveOnce();
    return this.resolved;
  }

  private resolved: Promise<{ manifest: ImageManifest; digest: string; bytes: Uint8Array }> | undefined;

  private async resolveOnce(): Promise<{ manifest: ImageManifest; digest: string; bytes: Uint8Array }> {
    let m = await this.getManifest();
    if (isIndex(m.doc)) {
      const d = selectPlatform(m.doc, this.name);
      m = await this.getManifest(d.digest);
      if (isIndex(m.doc))
        this.fail(
          `manifest ${d.digest}`,
          'an index inside an index; expected an image manifest',
          'PAGESTACK_REGISTRY_MEDIA_TYPE',
        );
    }
    return { manifest: m.doc as ImageManifest, digest: m.digest, bytes: m.bytes };
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.send(`${this.base}/blobs/${digest}`, 'HEAD', {
      what: `blob ${digest}`,
      ok: [200, 404],
    });
    return res.status === 200;
  }

  /** A (small) blob read whole into memory, verified against its descriptor. */
  async getBlob(d: { digest: string; size?: number | undefined }): Promise<Uint8Array> {
    const what = `blob ${d.digest}`;
    const max = d.size ?? this.maxMemoryBlob;
    if (max > this.maxMemoryBlob) this.fail(what, `${d.size} bytes, too large to read into memory`);
    const res = await this.send(`${this.base}/blobs/${d.digest}`, 'GET', { what, ok: [200] });
    const bytes = await readBounded(res, max, () =>
      this.fail(
        what,
        d.size === undefined ? `more than ${max} bytes` : `more bytes than the ${d.size} its descriptor says`,
        'PAGESTACK_REGISTRY_DIGEST',
      ),
    );
    checkBlob(bytes, { digest: d.digest, size: d.size ?? bytes.length }, (detail) =>
      this.fail(what, detail, 'PAGESTACK_REGISTRY_DIGEST'),
    );
    return bytes;
  }

  /** A blob's size (HEAD's Content-Length), or null when the repository lacks it. */
  async blobSize(digest: string): Promise<number | null> {
    const res = await this.send(`${this.base}/blobs/${digest}`, 'HEAD', {
      what: `blob ${digest}`,
      ok: [200, 404],
    });
    await res.body?.cancel();
    if (res.status === 404) return null;
    const n = Number(res.headers.get('content-length'));
    if (!Number.isSafeInteger(n))
      this.fail(`blob ${digest}`, 'HEAD without a Content-Length; expected the size');
    return n;
  }

  /** Deletes a blob (registries that allow deletes answer 202). */
  async deleteBlob(digest: string): Promise<void> {
    const res = await this.send(`${this.base}/blobs/${digest}`, 'DELETE', {
      what: `blob ${digest}`,
      push: true,
      ok: [202, 404],
    });
    await res.body?.cancel();
  }

  /** The digest a tag names now (HEAD), or null when there is no such tag. */
  async manifestDigest(reference: string): Promise<string | null> {
    const res = await this.send(`${this.base}/manifests/${reference}`, 'HEAD', {
      what: `manifest ${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      ok: [200, 404],
    });
    await res.body?.cancel();
    if (res.status === 404) return null;
    const d = res.headers.get('docker-content-digest');
    if (!d) this.fail(`manifest ${reference}`, 'HEAD without Docker-Content-Digest; expected the digest');
    return d;
  }

  /** Deletes a manifest by digest (and so every tag naming it). */
  async deleteManifest(digest: string): Promise<void> {
    const res = await this.send(`${this.base}/manifests/${digest}`, 'DELETE', {
      what: `manifest ${digest}`,
      push: true,
      ok: [202, 404],
    });
    await res.body?.cancel();
  }

  /** A blob streamed into a new file `path` (mode 0600), hashed on the way and verified. */
  async blobToFile(d: Pick<Descriptor, 'digest' | 'size'>, path: string): Promise<void> {
    const what = `blob ${d.digest}`;
    const res = await this.send(`${this.base}/blobs/${d.digest}`, 'GET', { what, ok: [200] });
    const fh = await open(path, 'wx', 0o600);
    const hash = createHash('sha256');
    let n = 0;
    try {
      const reader = res.body?.getReader();
      if (!reader) this.fail(what, 'empty answer');
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        n += value.length;
        if (n > d.size) {
          await reader.cancel();
          this.fail(what, `more bytes than the ${d.size} its descriptor says`, 'PAGESTACK_REGISTRY_DIGEST');
        }
        hash.update(value);
        await fh.write(value, 0, value.length, n - value.length);
      }
    } finally {
      await fh.close();
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (n !== d.size) this.fail(what, `${n} bytes; expected ${d.size}`, 'PAGESTACK_REGISTRY_DIGEST');
    if (got !== d.digest)
      this.fail(what, `its bytes hash to ${got}; expected ${d.digest}`, 'PAGESTACK_REGISTRY_DIGEST');
  }

  /** The reference pinned to a manifest digest (what a layer on top of it links to). */
  pinned(digest: string): string {
    return formatImageRef({ ...this.ref, tag: null, digest });
  }

  /** The blob in a new local file `tmpFile` (ImageReader's way to a layer). */
  async blobFile(d: Pick<Descriptor, 'digest' | 'size'>, tmpFile: string): Promise<string> {
    await this.blobToFile(d, tmpFile);
    return tmpFile;
  }

  close(): void {
    this.rangeCache.clear();
    this.rangeCacheUsed = 0;
  }

  /**
   * Bytes [start, end) of a blob: one ranged GET. Where the registry answers 200 (it ignores
   * Range), the whole blob is fetched and verified once and kept in the bounded cache.
   */
  async readRange(
    d: { digest: string; size?: number | undefined },
    start: number,
    end: number,
  ): Promise<Uint8Array> {
    const what = `blob ${d.digest} bytes ${start}-${end - 1}`;
    if (start < 0 || (d.size !== undefined && end > d.size) || end <= start) {
      this.fail(what, `outside the blob's ${d.size} bytes`, 'PAGESTACK_REGISTRY_RANGE');
    }
    const cached = this.rangeCache.get(d.digest);
    if (cached) return cached.slice(start, end);
    if (this.rangeSupported === false) {
      const whole = await this.cacheWhole(d);
      if (end > whole.length)
        this.fail(what, `outside the blob's ${whole.length} bytes`, 'PAGESTACK_REGISTRY_RANGE');
      return whole.slice(start, end);
    }
    const res = await this.send(`${this.base}/blobs/${d.digest}`, 'GET', {
      what,
      headers: { range: `bytes=${start}-${end - 1}` },
      ok: [200, 206],
    });
    if (res.status === 200) {
      this.rangeSupported = false;
      const whole = await readBounded(res, d.size ?? this.rangeCacheMax, () =>
        this.fail(
          what,
          `more bytes than the ${d.size ?? this.rangeCacheMax} expected`,
          'PAGESTACK_REGISTRY_DIGEST',
        ),
      );
      checkBlob(whole, { digest: d.digest, size: d.size ?? whole.length }, (detail) =>
        this.fail(`blob ${d.digest}`, detail, 'PAGESTACK_REGISTRY_DIGEST'),
      );
      this.keep(d.digest, whole);
      if (end > whole.length)
        this.fail(what, `outside the blob's ${whole.length} bytes`, 'PAGESTACK_REGISTRY_RANGE');
      return whole.slice(start, end);
    }
    this.rangeSupported = true;
    const cr = res.headers.get('content-range');
    const m = cr ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr.trim()) : null;
    if (
      !m ||
      Number(m[1]) !== start ||
      Number(m[2]) !== end - 1 ||
      (m[3] !== '*' && Number(m[3]) !== d.size)
    ) {
      await res.body?.cancel();
      this.fail(
        what,
        `answered 206 with Content-Range ${cr ?? '(none)'}; expected bytes ${start}-${end - 1}/${d.size}`,
        'PAGESTACK_REGISTRY_RANGE',
      );
    }
    const bytes = await readBounded(res, end - start, () =>
      this.fail(what, `more than the ${end - start} bytes asked`, 'PAGESTACK_REGISTRY_RANGE'),
    );
    if (bytes.length !== end - start)
      this.fail(what, `${bytes.length} bytes; expected ${end - start}`, 'PAGESTACK_REGISTRY_RANGE');
    return bytes;
  }

  private async cacheWhole(d: { digest: string; size?: number | undefined }): Promise<Uint8Array> {
    if (d.size !== undefined && d.size > this.rangeCacheMax) {
      this.fail(
        `blob ${d.digest}`,
        `the registry ignores Range, and the blob's ${d.size} bytes are above the ${this.rangeCacheMax}-byte whole-blob cache`,
        'PAGESTACK_REGISTRY_RANGE',
      );
    }
    const whole = await this.getBlob({ digest: d.digest, size: d.size ?? undefined });
    this.keep(d.digest, whole);
    return whole;
  }

  private keep(digest: string, bytes: Uint8Array): void {
    if (bytes.length > this.rangeCacheMax) return;
    while (this.rangeCacheUsed + bytes.length > this.rangeCacheMax) {
      const [k, v] = this.rangeCache.entries().next().value as [string, Uint8Array];
      this.rangeCache.delete(k);
      this.rangeCacheUsed -= v.length;
    }
    this.rangeCache.set(digest, bytes);
    this.rangeCacheUsed += bytes.length;
  }

  /**
   * Uploads a blob unless the repository has it already: monolithic (POST, PUT with the bytes)
   * up to chunkBytes, else POST, PATCH chunks in order, PUT. Returns whether bytes were sent.
   */
  async pushBlob(body: BlobBody, opts: { knownAbsent?: boolean } = {}): Promise<boolean> {
    const what = `blob ${body.digest}`;
    if (!opts.knownAbsent && (await this.hasBlob(body.digest))) return false;
    if (body.size <= SINGLE_POST_BYTES && this.singlePost !== false) {
      // the spec's single-request upload (POST ?digest= with the bytes): one round trip for a
      // small blob; a registry without it answers 202 and an upload session, used below
      const bytes = await body.read(0, body.size);
      const res = await this.send(`${this.base}/blobs/uploads/?digest=${body.digest}`, 'POST', {
        what,
        push: true,
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
        ok: [201, 202],
      });
      await res.body?.cancel();
      if (res.status === 201) {
        this.singlePost = true;
        return true;
      }
      this.singlePost = false;
      const put = await this.send(withDigest(this.location(res, what), body.digest), 'PUT', {
        what,
        push: true,
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
        ok: [201],
      });
      await put.body?.cancel();
      return true;
    }
    const post = await this.send(`${this.base}/blobs/uploads/`, 'POST', { what, push: true, ok: [202] });
    await post.body?.cancel();
    let location = this.location(post, what);
    if (body.size <= this.chunkBytes) {
      const bytes = await body.read(0, body.size);
      const put = await this.send(withDigest(location, body.digest), 'PUT', {
        what,
        push: true,
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
        ok: [201],
      });
      await put.body?.cancel();
      return true;
    }
    for (let pos = 0; pos < body.size; pos += this.chunkBytes) {
      const len = Math.min(this.chunkBytes, body.size - pos);
      const chunk = await body.read(pos, len);
      const patch = await this.send(location, 'PATCH', {
        what: `${what} chunk at ${pos}`,
        push: true,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${pos}-${pos + len - 1}`,
        },
        body: chunk,
        ok: [202],
      });
      await patch.body?.cancel();
      location = this.location(patch, what);
    }
    const put = await this.send(withDigest(location, body.digest), 'PUT', { what, push: true, ok: [201] });
    await put.body?.cancel();
    return true;
  }

  private location(res: Response, what: string): string {
    const loc = res.headers.get('location');
    if (!loc) this.fail(what, `HTTP ${res.status} without Location; expected an upload URL`);
    return new URL(loc, this.base).href;
  }

  /** PUTs a manifest under `reference` (a tag, or its digest); returns its digest. */
  async putManifest(bytes: Uint8Array, mediaType: string, reference: string): Promise<string> {
    const digest = sha256Digest(bytes);
    const what = `manifest ${reference}`;
    const res = await this.send(`${this.base}/manifests/${reference}`, 'PUT', {
      what,
      push: true,
      headers: { 'content-type': mediaType },
      body: bytes,
      ok: [201],
    });
    await res.body?.cancel();
    const said = res.headers.get('docker-content-digest');
    if (said && said !== digest) {
      this.fail(what, `registry says it stored ${said}; expected ${digest}`, 'PAGESTACK_REGISTRY_DIGEST');
    }
    return digest;
  }

  /** The repository's tags. */
  async listTags(): Promise<string[]> {
    const what = 'tags';
    const res = await this.send(`${this.base}/tags/list`, 'GET', { what, ok: [200] });
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES, () =>
      this.fail(what, 'answer above the size limit', 'PAGESTACK_REGISTRY_TOO_LARGE'),
    );
    try {
      const j = JSON.parse(new TextDecoder().decode(bytes)) as { tags?: unknown };
      if (j.tags === null || j.tags === undefined) return [];
      if (Array.isArray(j.tags) && j.tags.every((t) => typeof t === 'string')) return j.tags as string[];
    } catch {}
    return this.fail(what, 'expected {"tags": [...]}');
  }
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

function checkBlob(
  bytes: Uint8Array,
  d: Pick<Descriptor, 'digest' | 'size'>,
  fail: (s: string) => never,
): void {
  if (bytes.length !== d.size) fail(`${bytes.length} bytes; expected ${d.size}`);
  const got = sha256Digest(bytes);
  if (got !== d.digest) fail(`its bytes hash to ${got}; expected ${d.digest}`);
}

/** The distribution spec's error body {"errors":[{code, message}]} as ` (CODE: message)`. */
function registryErrorText(text: string): string {
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (e) return ` (${e.code ?? ''}${e.message ? `: ${e.message}` : ''})`.replace(/\s+/g, ' ');
  } catch {}
  return '';
}

/**
 * A response body read into memory, at most `max` bytes (Content-Length checked first, then the
 * bytes as they come); `tooLarge` is called (and throws) beyond that.
 */
export async function readBounded(
  res: Response,
  max: number,
  tooLarge: (n: number | null) => never,
): Promise<Uint8Array> {
  const cl = res.headers.get('content-length');
  if (cl !== null && Number(cl) > max) {
    await res.body?.cancel();
    tooLarge(Number(cl));
  }
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel();
      tooLarge(null);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
