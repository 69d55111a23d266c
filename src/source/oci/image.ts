/**
 * Checkpoint images as targets, like archives. podman's `--create-image`, checkpointctl's `build`
 * and the kubelet recipe (buildah from scratch + add + annotation) all make one manifest with one
 * layer whose tar holds the checkpoint archive's content (checkpoint/, config.dump, spec.dump,
 * ...), plus annotations:
 *
 *   podman        io.podman.annotations.checkpoint.{name, rawImageName, rootfsImageID,
 *                 rootfsImageName, podman.version, criu.version, runtime.name, runtime.version,
 *                 conmon.version, host.arch, host.kernel, cgroups.version, distribution.*}
 *                 (podman restores an image only when it has ...checkpoint.runtime.name)
 *   CRI-O         io.kubernetes.cri-o.annotations.checkpoint.name
 *   checkpointctl org.criu.checkpoint.{engine.name, container.name, pod.name, pod.namespace,
 *                 rootfsImageUserRequested, rootfsImageName, rootfsImageID, runtime.name, ...}
 *
 * The layer blob (from the registry, or the layout) is fetched once into a private temporary
 * file, verified against its digest, and opened by the archive reader (a plain tar read in place
 * through its descriptor, a gzip/zstd one decompressed once); the temporary file is unlinked at
 * once, the open descriptor keeping its bytes until the archive is closed.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from '../../errors.js';
import type { LayerSource } from '../../stack/source.js';
import { Archive, ArchiveLayerSource } from '../archive/index.js';
import { type ImageReader, isLayoutDir, isLayoutTar, LayoutReader } from './layout.js';
import { type Descriptor, type ImageManifest, LAYER_TYPES } from './media.js';
import { isOciRef, parseImageRef } from './ref.js';
import { RegistryClient } from './registry.js';

export const CHECKPOINT_ANNOTATIONS = {
  podmanPrefix: 'io.podman.annotations.checkpoint.',
  podmanRuntime: 'io.podman.annotations.checkpoint.runtime.name',
  crio: 'io.kubernetes.cri-o.annotations.checkpoint.name',
  criuPrefix: 'org.criu.checkpoint.',
} as const;

export interface ImageInfo {
  /** The reference as given (oci://..., a layout path[:tag]). */
  reference: string;
  /** The same, pinned to the manifest (oci://...@sha256:...; a layout's absolute path[:tag]). */
  pinned: string;
  /** The image manifest's digest. */
  digest: string;
  mediaType: string;
  annotations: Record<string, string>;
  /** The checkpoint layer's descriptor. */
  layer: Descriptor;
}

export interface CheckpointImage {
  info: ImageInfo;
  manifest: ImageManifest;
  /** The layer's tar, opened as a checkpoint archive (the caller releases it). */
  archive: Archive;
}

/** The image target a path names: an oci:// reference, a layout directory or tar ([:TAG]), or null. */
export async function imageReaderFor(target: string): Promise<ImageReader | null> {
  if (isOciRef(target)) return new RegistryClient(parseImageRef(target));
  const asLayout = async (p: string): Promise<boolean> => {
    const st = await stat(p).catch(() => null);
    if (!st) return false;
    return st.isDirectory() ? isLayoutDir(p) : st.isFile() && isLayoutTar(p);
  };
  if (await asLayout(target)) return LayoutReader.open(target, null);
  const colon = target.lastIndexOf(':');
  if (colon > 0 && !(await stat(target).catch(() => null))) {
    const path = target.slice(0, colon);
    if (await asLayout(path)) return LayoutReader.open(path, target.slice(colon + 1));
  }
  return null;
}

/** The one checkpoint layer of a manifest. */
export function checkpointLayer(m: ImageManifest, name: string): Descriptor {
  const layers = m.layers;
  if (layers.length !== 1) {
    throw new RegistryError(
      `${name}: ${layers.length} layers; expected one layer holding the checkpoint (as podman, checkpointctl and buildah make them)`,
      'PAGESTACK_NOT_CHECKPOINT_IMAGE',
    );
  }
  const l = layers[0]!;
  if (!LAYER_TYPES.includes(l.mediaType)) {
    throw new RegistryError(
      `${name}: layer ${l.digest} of media type ${l.mediaType}; expected a tar layer (${LAYER_TYPES.join(', ')})`,
      'PAGESTACK_REGISTRY_MEDIA_TYPE',
    );
  }
  return l;
}

/** Opens the checkpoint image a reader names: manifest, annotations, and its layer as an archive. */
export async function openCheckpointImage(reader: ImageReader): Promise<CheckpointImage> {
  const { manifest, digest } = await reader.resolveImage();
  const layer = checkpointLayer(manifest, reader.name);
  const dir = await mkdtemp(join(tmpdir(), 'pagestack-oci-'));
  try {
    const file = await reader.blobFile(layer, join(dir, 'layer'));
    const archive = await Archive.open(file, { label: reader.name });
    return {
      info: {
        reference: reader.name,
        pinned: reader.pinned(digest),
        digest,
        mediaType: manifest.mediaType,
        annotations: { ...(manifest.annotations ?? {}) },
        layer,
      },
      manifest,
      archive,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A checkpoint image's layer as a stack layer (its `image` says where it came from; a layer made
 * on top of it, by `delta`, links to `imageLink`, the pinned reference).
 */
export class ImageLayerSource extends ArchiveLayerSource {
  readonly imageLink: string;
  constructor(
    archive: Archive,
    readonly image: ImageInfo,
    parent: LayerSource | null,
  ) {
    super(archive, archive.imageDir, parent);
    this.imageLink = image.pinned;
  }
}

/**
 * The layer a `parent` link of an image directory names when it is a checkpoint image (an
 * oci:// reference, or an OCI layout path[:TAG]), else null. `link` is the link's text,
 * `target` the path it resolves to.
 */
export async function openImageParent(link: string, target: string): Promise<LayerSource | null> {
  return openImageSource(isOciRef(link) ? link : target, null);
}

/** The image target as a layer, or null when `target` names no image. */
export async function openImageSource(
  target: string,
  parent: LayerSource | null,
): Promise<LayerSource | null> {
  // a pagestack stack in a registry: oci://REGISTRY/REPOSITORY:NAME[@N] (N = layer, 1 = bottom)
  const at = isOciRef(target) ? /^(.*)@(\d+)$/.exec(target) : null;
  const reader = await imageReaderFor(at ? at[1]! : target);
  if (reader === null) return null;
  try {
    if (reader instanceof RegistryClient) {
      const { manifest } = await reader.resolveImage();
      const { STACK_ARTIFACT, STACK_NAME_ANN, openRegistryStack } = await import('./store.js');
      if (manifest.artifactType === STACK_ARTIFACT) {
        const name = manifest.annotations?.[STACK_NAME_ANN] ?? reader.ref.tag ?? '';
        return openRegistryStack(reader.ref, name, at ? Number(at[2]) : undefined);
      }
      if (at) {
        throw new RegistryError(
          `${target}: @${at[2]} names a layer, but ${reader.name} is not a pagestack stack (artifactType ${manifest.artifactType ?? 'none'}); expected ${STACK_ARTIFACT}`,
          'PAGESTACK_REGISTRY_MEDIA_TYPE',
        );
      }
    }
    const img = await openCheckpointImage(reader);
    return new ImageLayerSource(img.archive, img.info, parent);
  } finally {
    reader.close();
  }
}
