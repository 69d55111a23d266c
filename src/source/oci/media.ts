/**
 * OCI image-spec 1.1 and Docker schema 2 documents: media types, the fields pagestack reads, and
 * their checks. A manifest names a config blob and layer blobs by descriptor ({mediaType, digest,
 * size}); an index names manifests, one per platform:
 *
 *   index (application/vnd.oci.image.index.v1+json | ...docker.distribution.manifest.list.v2+json)
 *     manifests[]: {mediaType, digest, size, platform: {architecture, os, variant?}}
 *   manifest (application/vnd.oci.image.manifest.v1+json | ...docker.distribution.manifest.v2+json)
 *     config: descriptor; layers: descriptor[]; annotations?: {key: value}; artifactType? (1.1)
 *
 * A checkpoint image (podman --create-image, checkpointctl build, the kubelet recipe) is one such
 * manifest with one layer: a tar (plain, gzip or zstd) of the checkpoint archive's content.
 */
import { RegistryError } from '../../errors.js';
import { DIGEST_RE } from './ref.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

export const MANIFEST_TYPES: readonly string[] = [MT.ociManifest, MT.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MT.ociIndex, MT.dockerList];
/** The Accept header of a manifest GET: everything pagestack can read. */
export const MANIFEST_ACCEPT = [...MANIFEST_TYPES, ...INDEX_TYPES].join(', ');
/** Layer media types whose blob is a tar, possibly compressed (the bytes tell which). */
export const LAYER_TYPES: readonly string[] = [
  MT.ociLayerTar,
  MT.ociLayerGzip,
  MT.ociLayerZstd,
  MT.dockerLayerGzip,
  MT.dockerLayerTar,
];

/** Manifests and indexes above this many bytes are refused (containerd's limit is the same). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string; variant?: string };
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkDescriptor(v: unknown, where: string, name: string): Descriptor {
  if (
    !isObj(v) ||
    typeof v['mediaType'] !== 'string' ||
    typeof v['digest'] !== 'string' ||
    typeof v['size'] !== 'number'
  ) {
    throw new RegistryError(`${name}: ${where}: expected a descriptor {mediaType, digest, size}`);
  }
  if (!DIGEST_RE.test(v['digest'])) {
    throw new RegistryError(
      `${name}: ${where}: digest "${v['digest']}": expected sha256: and 64 hex digits (the only algorithm read)`,
      'PAGESTACK_REGISTRY_DIGEST',
    );
  }
  if (!Number.isSafeInteger(v['size']) || v['size'] < 0) {
    throw new RegistryError(`${name}: ${where}: size ${v['size']}: expected a byte count`);
  }
  return v as unknown as Descriptor;
}

function checkAnnotations(v: unknown, where: string, name: string): void {
  if (v === undefined) return;
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new RegistryError(`${name}: ${where}.annotations: expected an object of strings`);
  }
}

/**
 * Parses a manifest or index document; `mediaType` is the one the registry (or the descriptor
 * that led here) gave. A document of another type, or one that contradicts its own
 * `mediaType` field, is refused.
 */
export function parseManifestDoc(
  bytes: Uint8Array,
  mediaType: string | null,
  name: string,
): ImageManifest | ImageIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new RegistryError(`${name}: manifest: not JSON (${(e as Error).message})`);
  }
  if (!isObj(doc) || doc['schemaVersion'] !== 2) {
    throw new RegistryError(
      `${name}: manifest: expected schemaVersion 2 (OCI or Docker schema 2)`,
      'PAGESTACK_REGISTRY_MEDIA_TYPE',
    );
  }
  const own = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : null;
  const type =
    mediaType && (MANIFEST_TYPES.includes(mediaType) || INDEX_TYPES.includes(mediaType))
      ? mediaType
      : (own ?? (Array.isArray(doc['manifests']) ? MT.ociIndex : MT.ociManifest));
  if (mediaType && !MANIFEST_TYPES.includes(mediaType) && !INDEX_TYPES.includes(mediaType)) {
    // registries answer application/json or octet-stream for manifests they stored without a type
    if (!/^(application\/json|application\/octet-stream|text\/plain)/.test(mediaType)) {
      throw new RegistryError(
        `${name}: manifest of media type ${mediaType}, expected an OCI or Docker image manifest or index`,
        'PAGESTACK_REGISTRY_MEDIA_TYPE',
      );
    }
  }
  if (own !== null && own !== type) {
    throw new RegistryError(
      `${name}: manifest says mediaType ${own}, but was served as ${type}`,
      'PAGESTACK_REGISTRY_MEDIA_TYPE',
    );
  }
  checkAnnotations(doc['annotations'], '$', name);
  if (INDEX_TYPES.includes(type)) {
    if (!Array.isArray(doc['manifests'])) throw new RegistryError(`${name}: index: expected manifests[]`);
    doc['manifests'].forEach((d, i) => {
      checkDescriptor(d, `$.manifests[${i}]`, name);
    });
    return { ...(doc as unknown as ImageIndex), mediaType: type };
  }
  const config = checkDescriptor(doc['config'], '$.config', name);
  if (!Array.isArray(doc['layers'])) throw new RegistryError(`${name}: manifest: expected layers[]`);
  doc['layers'].forEach((d, i) => {
    checkDescriptor(d, `$.layers[${i}]`, name);
  });
  return { ...(doc as unknown as ImageManifest), mediaType: type, config };
}

export function isIndex(d: ImageManifest | ImageIndex): d is ImageIndex {
  return INDEX_TYPES.includes(d.mediaType);
}

/** Node's process.arch as OCI names it (GOARCH). */
export function ociArch(arch: string = process.arch): string {
  return (
    ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as const)[
      arch as 'x64'
    ] ?? arch
  );
}

/** The manifest of an index for this machine (linux/this arch), else the only one, else an error. */
export function selectPlatform(index: ImageIndex, name: string, arch = ociArch()): Descriptor {
  const images = index.manifests.filter((m) => MANIFEST_TYPES.includes(m.mediaType));
  const match = images.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (match) return match;
  const noPlatform = images.filter((m) => m.platform === undefined);
  if (noPlatform.length === 1) return noPlatform[0]!;
  if (images.length === 1) return images[0]!;
  const have = images.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`).join(', ');
  throw new RegistryError(
    `${name}: index has no manifest for linux/${arch} (it has ${have || 'no image manifests'})`,
    'PAGESTACK_REGISTRY_NOT_FOUND',
  );
}
