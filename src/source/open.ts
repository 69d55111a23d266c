/**
 * The one place a user's path becomes a layer source or a stack. Every command opens its inputs
 * here, so a new kind of source (a checkpoint archive, an object store) is detected in
 * `openSource` and every command takes it.
 *
 * A directory is an image directory; a regular file is a checkpoint archive (plain tar, gzip or
 * zstd, found from its bytes: src/source/archive); `s3://BUCKET/PREFIX/NAME[@N]` a stored stack's
 * layer (src/source/store, loaded only for such a target).
 */
import { stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { LayerSource } from '../stack/source.js';
import { type OpenStackOptions, openStack, type Stack } from '../stack/stack.js';
import { DirLayerSource } from './dir.js';
// OCI checkpoint images (oci://, layout directories and tars): the oci helper's lines
import { isOciRef } from './oci/ref.js';
import { isS3Url } from './s3/object-store.js';

export interface OpenSourceOptions {
  /** A directory or archive supplying the layer below the target's top layer (`--parent`). */
  parent?: string | undefined;
}

export type OpenTargetOptions = OpenStackOptions & OpenSourceOptions;

/** The layer a path names: an image directory, or the image directory of a checkpoint archive. */
export async function openSource(path: string, opts: OpenSourceOptions = {}): Promise<LayerSource> {
  if (isS3Url(path)) {
    if (opts.parent !== undefined) {
      throw new UsageError(
        `${path}: a stored layer has its parent in the store; it takes no parent from outside`,
      );
    }
    return (await import('./store/open.js')).openStoreSource(path);
  }
  const parent = opts.parent === undefined ? null : await openSource(opts.parent);
  // OCI: oci://REGISTRY/REPO:TAG, an OCI layout directory or tar (PATH[:TAG])
  const image = await openImage(path, parent);
  if (image) return image;
  const isFile = await stat(path).then(
    (st) => st.isFile(),
    () => false, // DirLayerSource.open names the missing path
  );
  if (isFile) {
    // the archive readers (tar, the decompressors) load only for an archive: start-up counts
    const { openArchiveSource } = await import('./archive/index.js');
    return openArchiveSource(path, { parent });
  }
  const dir = await DirLayerSource.open(path);
  return parent ? withParent(dir, parent) : dir;
}

/** A checkpoint image target as a layer (loaded only for oci:// or a path that may be a layout). */
async function openImage(path: string, parent: LayerSource | null): Promise<LayerSource | null> {
  const maybeLayout =
    isOciRef(path) ||
    (await stat(path).then(
      (st) =>
        st.isDirectory()
          ? stat(`${path}/oci-layout`).then(
              () => true,
              () => false,
            )
          : st.isFile(),
      () => path.includes(':'),
    ));
  if (!maybeLayout) return null;
  const { openImageSource } = await import('./oci/image.js');
  return openImageSource(path, parent);
}

/** A directory layer whose parent is supplied from outside (`--parent`). */
function withParent(dir: DirLayerSource, parent: LayerSource): LayerSource {
  return {
    name: dir.name,
    id: dir.id,
    list: () => dir.list(),
    readFile: (f) => dir.readFile(f),
    open: (f) => dir.open(f),
    parent: () => Promise.resolve(parent),
    close: () => parent.close?.() ?? Promise.resolve(),
  };
}

/** The stack whose top layer a path names, down its parent links. The caller closes it. */
export async function openTarget(path: string, opts: OpenTargetOptions = {}): Promise<Stack> {
  const top = await openSource(path, opts);
  try {
    return await openStack(top, opts);
  } catch (e) {
    await top.close?.();
    throw e;
  }
}

/** A stack from a local image directory (library convenience: always a directory). */
export async function openStackDir(dir: string, opts?: OpenStackOptions): Promise<Stack> {
  return openStack(await DirLayerSource.open(dir), opts);
}
