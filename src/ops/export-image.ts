/**
 * `export TARGET --image REGISTRY/REPO:TAG | --image-archive FILE.tar`: a checkpoint image that
 * podman (`container restore IMAGE`, `run IMAGE`) and CRI-O restore, from a self-contained
 * image directory (the CLI squashes TARGET's stack into one first, every page present).
 *
 *   manifest (OCI 1.1 image manifest, annotations: podman's, CRI-O's and checkpointctl's keys)
 *     config  application/vnd.oci.image.config.v1+json  {architecture, os: linux, rootfs.diff_ids}
 *     layer   application/vnd.oci.image.layer.v1.tar    the checkpoint archive's content at the
 *             root: the model's metadata members (config.dump, spec.dump, ...) in its order, its
 *             image directory replaced by the squashed images (as `squash --like` writes it)
 *
 * The layer is an uncompressed tar: podman's restore mounts the image and copies checkpoint/
 * out of it, so a registry-side gzip would only cost time at both ends (and the layer digest is
 * then also its diff_id). Into a registry, blobs the repository has already are not sent again;
 * the layout tar is built beside FILE, fsynced, and renamed into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExportError } from '../errors.js';
import { type Archive, type Engine, writeArchiveLike } from '../source/archive/index.js';
import { BLOCK } from '../source/archive/tar.js';
import { tarHeader } from '../source/archive/write.js';
import { CHECKPOINT_ANNOTATIONS } from '../source/oci/image.js';
import { REF_NAME } from '../source/oci/layout.js';
import { type ImageManifest, MT, ociArch } from '../source/oci/media.js';
import { formatImageRef, type ImageRef } from '../source/oci/ref.js';
import { type BlobBody, RegistryClient, type RegistryOptions, sha256Digest } from '../source/oci/registry.js';

export interface ExportImageOptions {
  /** The self-contained image directory to ship (every page present). */
  images: string;
  /** The archive whose metadata members (config.dump, spec.dump, ...) go with the images. */
  like: Archive;
  /** The annotations of `like` when it came from an image (they are kept: host facts, versions). */
  likeAnnotations?: Record<string, string> | undefined;
  /** Annotations to set on top (KEY=VALUE from the command line). */
  annotations?: Record<string, string> | undefined;
  /** Push to this registry reference... */
  image?: ImageRef | undefined;
  registry?: RegistryOptions | undefined;
  /** ... or write an OCI layout tar here (tagged `tag` in its index.json). */
  archive?: string | undefined;
  tag?: string | undefined;
  /** Temporary space (default: beside the archive, else the OS's). */
  tmpDir?: string | undefined;
  created?: Date | undefined;
}

export interface ExportImageResult {
  destination: string;
  manifestDigest: string;
  layerDigest: string;
  layerBytes: number;
  /** Bytes sent to the registry (blobs it had already are not sent). */
  uploadedBytes: number;
  annotations: Record<string, string>;
}

type Json = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The checkpoint annotations podman, CRI-O and checkpointctl read, from the model archive's
 * config.dump and spec.dump; `base` (a model image's own annotations) first, `extra` last.
 */
export async function checkpointAnnotations(
  like: Archive,
  base: Record<string, string> = {},
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const cfg = ((await like.readJson('config.dump')) ?? {}) as Json;
  const spec = ((await like.readJson('spec.dump')) ?? {}) as Json;
  const specAnn = ((spec['annotations'] as Json | undefined) ?? {}) as Record<string, unknown>;
  const name = str(cfg['name']);
  const rawImage = str(cfg['RawImageName']) ?? str(cfg['rawImageName']);
  const rootfsId = str(cfg['rootfsImageID']) ?? str(cfg['rootfsImageRef']);
  const rootfsName = str(cfg['rootfsImageName']);
  const rootfsReq = str(cfg['rootfsImage']);
  const runtime = str(cfg['runtime']) ?? str(cfg['ociRuntime']) ?? str(cfg['OCIRuntime']);
  const pod = str(specAnn['io.kubernetes.pod.name']) ?? str(specAnn['io.kubernetes.cri.sandbox-name']);
  const ns =
    str(specAnn['io.kubernetes.pod.namespace']) ?? str(specAnn['io.kubernetes.cri.sandbox-namespace']);
  const engine: Record<Engine, string> = {
    podman: 'Podman',
    'CRI-O': 'CRI-O',
    containerd: 'containerd',
    criu: 'CRIU',
  };
  const P = CHECKPOINT_ANNOTATIONS.podmanPrefix;
  const C = CHECKPOINT_ANNOTATIONS.criuPrefix;
  const derived: Record<string, string | undefined> = {
    [`${P}name`]: name,
    [`${P}rawImageName`]: rawImage,
    [`${P}rootfsImageID`]: rootfsId,
    [`${P}rootfsImageName`]: rootfsName,
    [`${P}runtime.name`]: runtime,
    [CHECKPOINT_ANNOTATIONS.crio]: name,
    [`${C}engine.name`]: engine[like.engine],
    [`${C}container.name`]: name,
    [`${C}pod.name`]: pod,
    [`${C}pod.namespace`]: ns,
    [`${C}rawImageName`]: rawImage,
    [`${C}rootfsImageUserRequested`]: rootfsReq,
    [`${C}rootfsImageName`]: rootfsName,
    [`${C}rootfsImageID`]: rootfsId,
    [`${C}runtime.name`]: runtime,
  };
  const out: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(derived)) if (v !== undefined && out[k] === undefined) out[k] = v;
  return { ...out, ...extra };
}

/** The sha256 digest and size of a file, read once. */
async function digestFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

function fileBody(path: string, digest: string, size: number): BlobBody {
  return {
    size,
    digest,
    async read(position, length) {
      const fh = await open(path, 'r');
      try {
        const b = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(b, done, length - done, position + done);
          if (bytesRead === 0) throw new ExportError(`${path}: short read at ${position + done}`);
          done += bytesRead;
        }
        return b;
      } finally {
        await fh.close();
      }
    },
  };
}

function memBody(bytes: Uint8Array): BlobBody {
  return {
    size: bytes.length,
    digest: sha256Digest(bytes),
    read: async (p, n) => bytes.subarray(p, p + n),
  };
}

const enc = new TextEncoder();

export async function exportImage(opts: ExportImageOptions): Promise<ExportImageResult> {
  if ((opts.image === undefined) === (opts.archive === undefined)) {
    throw new ExportError('export to an image: name a registry reference or a layout tar (one of them)');
  }
  const created = (opts.created ?? new Date()).toISOString();
  const tmpParent =
    opts.tmpDir ?? (opts.archive ? dirname(opts.archive) : (await import('node:os')).tmpdir());
  const tmp = await mkdtemp(join(tmpParent, '.pagestack-image-'));
  try {
    const layerPath = join(tmp, 'layer.tar');
    await writeArchiveLike(layerPath, opts.like, opts.images, 'none');
    const layer = await digestFile(layerPath);
    const config = enc.encode(
      JSON.stringify({
        created,
        architecture: ociArch(),
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        history: [{ created, created_by: 'pagestack export --image' }],
      }),
    );
    const annotations = await checkpointAnnotations(opts.like, opts.likeAnnotations, opts.annotations);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: MT.ociLayerTar, digest: layer.digest, size: layer.size }],
      annotations,
    };
    const mbytes = enc.encode(JSON.stringify(manifest));
    const result: ExportImageResult = {
      destination: '',
      manifestDigest: sha256Digest(mbytes),
      layerDigest: layer.digest,
      layerBytes: layer.size,
      uploadedBytes: 0,
      annotations,
    };
    if (opts.image) {
      const client = new RegistryClient(opts.image, opts.registry);
      if (await client.pushBlob(fileBody(layerPath, layer.digest, layer.size)))
        result.uploadedBytes += layer.size;
      if (await client.pushBlob(memBody(config))) result.uploadedBytes += config.length;
      await client.putManifest(mbytes, MT.ociManifest, opts.image.tag ?? result.manifestDigest);
      result.uploadedBytes += mbytes.length;
      result.destination = `${formatImageRef({ ...opts.image, digest: null })}@${result.manifestDigest}`;
    } else {
      const out = opts.archive!;
      const index = {
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          {
            mediaType: MT.ociManifest,
            digest: result.manifestDigest,
            size: mbytes.length,
            ...(opts.tag ? { annotations: { [REF_NAME]: opts.tag } } : {}),
          },
        ],
      };
      await writeLayoutTar(out, [
        ['oci-layout', enc.encode(JSON.stringify({ imageLayoutVersion: '1.0.0' }))],
        ['index.json', enc.encode(JSON.stringify(index))],
        [`blobs/sha256/${result.manifestDigest.slice(7)}`, mbytes],
        [`blobs/sha256/${sha256Digest(config).slice(7)}`, config],
        [`blobs/sha256/${layer.digest.slice(7)}`, { path: layerPath, size: layer.size }],
      ]);
      result.destination = out;
    }
    return result;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** An OCI layout tar: members in order (a file's bytes streamed), built beside, fsynced, renamed. */
async function writeLayoutTar(
  out: string,
  members: readonly (readonly [string, Uint8Array | { path: string; size: number }])[],
): Promise<void> {
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o644);
  let pos = 0;
  const put = async (b: Uint8Array) => {
    await fh.write(b, 0, b.length, pos);
    pos += b.length;
  };
  const pad = async (n: number) => {
    const rem = n % BLOCK;
    if (rem) await put(new Uint8Array(BLOCK - rem));
  };
  const mtime = Math.floor(Date.now() / 1000);
  try {
    await put(tarHeader({ name: 'blobs/', type: '5', size: 0, mode: 0o755, mtime }));
    await put(tarHeader({ name: 'blobs/sha256/', type: '5', size: 0, mode: 0o755, mtime }));
    for (const [name, data] of members) {
      const size = data instanceof Uint8Array ? data.length : data.size;
      await put(tarHeader({ name, type: '0', size, mode: 0o644, mtime }));
      if (data instanceof Uint8Array) await put(data);
      else {
        let n = 0;
        for await (const c of createReadStream(data.path, { highWaterMark: 1 << 20 })) {
          await put(c as Buffer);
          n += (c as Buffer).length;
        }
        if (n !== size)
          throw new ExportError(`${data.path}: changed while being written (${n} of ${size} bytes)`);
      }
      await pad(size);
    }
    await put(new Uint8Array(2 * BLOCK));
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
    const d = await open(dirname(out), 'r');
    await d.sync().catch(() => {});
    await d.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await stat(out);
}
