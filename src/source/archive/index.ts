/**
 * Container checkpoint archives as stack layers: openArchiveSource is the one entry point; the
 * CLI reaches it through openSource (src/open.ts), which takes a directory or an archive.
 */

import type { LayerSource } from '../../stack/source.js';
import { Archive, type ArchiveOptions } from './archive.js';
import { ArchiveLayerSource } from './source.js';

export { Archive, type ArchiveOptions, type Engine, recogniseLayout } from './archive.js';
export { ArchiveError } from './errors.js';
export { type ArchiveFormat, detectFormat } from './format.js';
export { ArchiveLayerSource } from './source.js';
export { indexTar, type TarIndex, type TarMember } from './tar.js';
export { DEFAULT_UNPACK_LIMIT, pendingTempDirs, removeStaleTempDirs, unpackLimit } from './unpack.js';

export interface OpenArchiveOptions extends ArchiveOptions {
  /** The layer below the archive's top layer (replaces its `parent` member). */
  parent?: LayerSource | null;
}

/** Opens the image directory of a checkpoint archive (any supported format/layout) as a layer. */
export async function openArchiveSource(
  path: string,
  opts: OpenArchiveOptions = {},
): Promise<ArchiveLayerSource> {
  const archive = await Archive.open(path, opts);
  return new ArchiveLayerSource(archive, archive.imageDir, opts.parent ?? null);
}
export { type ArchiveCompression, compressionForName, writeArchiveLike } from './write.js';
