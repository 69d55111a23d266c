/**
 * OCI image layouts (image-spec `image-layout.md`), a directory or a tar of one:
 *
 *   oci-layout          {"imageLayoutVersion": "1.0.0"}
 *   index.json          an image index; manifests[] carry `org.opencontainers.image.ref.name`
 *                       (the tag) where the layout names them
 *   blobs/sha256/HEX    every manifest, config and layer, named by its digest
 *
 * `podman push IMG oci-archive:FILE` / `buildah push IMG oci:DIR` write these; pagestack reads
 * them as checkpoint images (`PATH` or `PATH:TAG`) and writes one with `export --image-archive`.
 * Blobs are verified against their digests when read, like a registry's.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RegistryError } from '../../errors.js';
import { indexTar, type TarIndex } from '../archive/tar.js';
import { FileContainer } from '../archive/unpack.js';
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isIndex,
  MAX_MANIFEST_BYTES,
  parseManifestDoc,
  selectPlatform,
} from './media.js';
import { sha256Digest } from './registry.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';

/** Where an image's manifest, config and layer blobs are read from: a registry or a layout. */
export interface ImageReader {
  /** The reference for messages (`oci://...`, a layout path[:tag]). */
  readonly name: string;
  /**
   * How a layer made on top of this image links to it (its `parent`): the manifest pinned by
   * digest where the reference can say so (oci://...@sha256:...), else the layout's absolute path.
   */
  pinned(digest: string): string;
  resolveImage(): Promise<{ manifest: ImageManifest; digest: string; bytes: Uint8Array }>;
  /** A small blob, verified. */
  getBlob(d: Pick<Descriptor, 'digest' | 'size'>): Promise<Uint8Array>;
  /**
   * A local file holding exactly the blob's verified bytes: the layout's own blob file where
   * there is one, else written to `tmpFile`.
   */
  blobFile(d: Pick<Descriptor, 'digest' | 'size'>, tmpFile: string): Promise<string>;
  close(): void;
}

/** Whether `path` is an OCI layout directory (has `oci-layout` and `index.json`). */
export async function isLayoutDir(path: string): Promise<boolean> {
  const ok = async (f: string) => (await stat(join(path, f)).catch(() => null))?.isFile() === true;
  return (await ok('oci-layout')) && (await ok('index.json'));
}

/** Whether `path` is a plain tar whose root holds an OCI layout (`oci-layout`, `index.json`). */
export function isLayoutTar(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    return false;
  }
  try {
    const head = new Uint8Array(512);
    if (readSync(fd, head, 0, 512, 0) !== 512) return false;
    if (String.fromCharCode(...head.subarray(257, 262)) !== 'ustar') return false;
    const c = new FileContainer(fd, fstatSync(fd).size);
    let idx: TarIndex;
    try {
      idx = indexTar(c, path);
    } catch {
      return false;
    }
    return idx.get('oci-layout') !== undefined && idx.get('index.json') !== undefined;
  } finally {
    closeSync(fd);
  }
}

function blobName(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`;
}

function checkBytes(
  name: string,
  what: string,
  bytes: Uint8Array,
  d: Pick<Descriptor, 'digest' | 'size'>,
): void {
  if (bytes.length !== d.size) {
    throw new RegistryError(
      `${name}: ${what}: ${bytes.length} bytes; expected ${d.size}`,
      'PAGESTACK_REGISTRY_DIGEST',
    );
  }
  const got = sha256Digest(bytes);
  if (got !== d.digest) {
    throw new RegistryError(
      `${name}: ${what}: its bytes hash to ${got}; expected ${d.digest}`,
      'PAGESTACK_REGISTRY_DIGEST',
    );
  }
}

/** A layout directory or tar, read as an ImageReader. */
export class LayoutReader implements ImageReader {
  readonly name: string;
  private constructor(
    private readonly path: string,
    private readonly tag: string | null,
    /** The tar's index and container, or null for a directory. */
    private readonly tar: { index: TarIndex; container: FileContainer } | null,
  ) {
    this.name = tag === null ? path : `${path}:${tag}`;
  }

  pinned(): string {
    return this.tag === null ? resolve(this.path) : `${resolve(this.path)}:${this.tag}`;
  }

  static async open(path: string, tag: string | null): Promise<LayoutReader> {
    const st = await stat(path).catch(() => null);
    if (st?.isDirectory()) return new LayoutReader(path, tag, null);
    const fd = openSync(path, constants.O_RDONLY);
    const container = new FileContainer(fd, fstatSync(fd).size);
    try {
      return new LayoutReader(path, tag, { index: indexTar(container, path), container });
    } catch (e) {
      container.close();
      throw e;
    }
  }

  close(): void {
    this.tar?.container.close();
  }

  /** A member (tar) or file (directory) whole; null when absent. */
  private async readPart(rel: string, max: number, what: string): Promise<Uint8Array | null> {
    if (this.tar) {
      const m = this.tar.index.get(rel);
      if (m?.type !== 'file') return null;
      if (m.size > max) this.tooLarge(what, m.size, max);
      const b = new Uint8Array(m.size);
      this.tar.container.readSync(b, 0, m.size, m.offset);
      return b;
    }
    const p = join(this.path, rel);
    const st = await stat(p).catch(() => null);
    if (!st?.isFile()) return null;
    if (st.size > max) this.tooLarge(what, st.size, max);
    return new Uint8Array(await readFile(p));
  }

  private tooLarge(what: string, n: number, max: number): never {
    throw new RegistryError(
      `${this.name}: ${what}: ${n} bytes, above the ${max}-byte limit`,
      'PAGESTACK_REGISTRY_TOO_LARGE',
    );
  }

  async resolveImage(): Promise<{ manifest: ImageManifest; digest: string; bytes: Uint8Array }> {
    const ib = await this.readPart('index.json', MAX_MANIFEST_BYTES, 'index.json');
    if (!ib) throw new RegistryError(`${this.name}: no index.json; expected an OCI image layout`);
    const index = parseManifestDoc(ib, null, `${this.name}: index.json`);
    if (!isIndex(index)) throw new RegistryError(`${this.name}: index.json: expected an image index`);
    let candidates = index.manifests;
    if (this.tag !== null) {
      candidates = candidates.filter((m) => m.annotations?.[REF_NAME] === this.tag);
      if (candidates.length === 0) {
        const tags = index.manifests.map((m) => m.annotations?.[REF_NAME]).filter((t) => t !== undefined);
        throw new RegistryError(
          `${this.name}: no manifest tagged "${this.tag}" in index.json (tags: ${tags.join(', ') || 'none'})`,
          'PAGESTACK_REGISTRY_NOT_FOUND',
        );
      }
    }
    let d = selectPlatform(
      { ...(index as ImageIndex), manifests: candidates.length ? candidates : index.manifests },
      this.name,
    );
    for (let depth = 0; depth < 4; depth++) {
      const bytes = await this.readPart(blobName(d.digest), MAX_MANIFEST_BYTES, `manifest ${d.digest}`);
      if (!bytes)
        throw new RegistryError(
          `${this.name}: no blob ${d.digest} (a manifest)`,
          'PAGESTACK_REGISTRY_NOT_FOUND',
        );
      checkBytes(this.name, `manifest ${d.digest}`, bytes, d);
      const doc = parseManifestDoc(bytes, d.mediaType, `${this.name}: manifest ${d.digest}`);
      if (!isIndex(doc)) return { manifest: doc, digest: d.digest, bytes };
      d = selectPlatform(doc, this.name);
    }
    throw new RegistryError(`${this.name}: indexes nested more than 4 deep`);
  }

  async getBlob(d: Pick<Descriptor, 'digest' | 'size'>): Promise<Uint8Array> {
    const b = await this.readPart(blobName(d.digest), Math.max(d.size, 0), `blob ${d.digest}`);
    if (!b) throw new RegistryError(`${this.name}: no blob ${d.digest}`, 'PAGESTACK_REGISTRY_NOT_FOUND');
    checkBytes(this.name, `blob ${d.digest}`, b, d);
    return b;
  }

  async blobFile(d: Pick<Descriptor, 'digest' | 'size'>, tmpFile: string): Promise<string> {
    const what = `blob ${d.digest}`;
    const hash = createHash('sha256');
    const buf = new Uint8Array(1 << 20);
    let size: number;
    let readAt: (pos: number, n: number) => number;
    let out: Awaited<ReturnType<typeof open>> | null = null;
    let fd = -1;
    if (this.tar) {
      const m = this.tar.index.get(blobName(d.digest));
      if (m?.type !== 'file')
        throw new RegistryError(`${this.name}: no ${what}`, 'PAGESTACK_REGISTRY_NOT_FOUND');
      size = m.size;
      const c = this.tar.container;
      readAt = (pos, n) => c.readSync(buf, 0, n, m.offset + pos);
      out = await open(tmpFile, 'wx', 0o600);
    } else {
      const p = join(this.path, blobName(d.digest));
      try {
        fd = openSync(p, constants.O_RDONLY);
      } catch {
        throw new RegistryError(`${this.name}: no ${what}`, 'PAGESTACK_REGISTRY_NOT_FOUND');
      }
      size = fstatSync(fd).size;
      readAt = (pos, n) => readSync(fd, buf, 0, n, pos);
    }
    try {
      if (size !== d.size)
        throw new RegistryError(
          `${this.name}: ${what}: ${size} bytes; expected ${d.size}`,
          'PAGESTACK_REGISTRY_DIGEST',
        );
      for (let pos = 0; pos < size; ) {
        const n = readAt(pos, Math.min(buf.length, size - pos));
        if (n <= 0) throw new RegistryError(`${this.name}: ${what}: short read at ${pos}`);
        hash.update(buf.subarray(0, n));
        if (out) await out.write(buf, 0, n, pos);
        pos += n;
      }
    } finally {
      if (fd >= 0) closeSync(fd);
      await out?.close();
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== d.digest) {
      throw new RegistryError(
        `${this.name}: ${what}: its bytes hash to ${got}; expected ${d.digest}`,
        'PAGESTACK_REGISTRY_DIGEST',
      );
    }
    return this.tar ? tmpFile : join(this.path, blobName(d.digest));
  }
}
