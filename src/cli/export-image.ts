/**
 * `pagestack export TARGET --image REGISTRY/REPO:TAG | --image-archive FILE.tar[:TAG]
 * [--like ARCHIVE|IMAGE] [--annotation K=V ...]`: TARGET's stack squashed into one self-contained
 * image directory (in a temporary directory, removed afterwards), then shipped as a checkpoint
 * image (src/ops/export-image.ts). Part of `export` (src/cli/export.ts), loaded only for these
 * flags.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RegistryError, UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { exportImage } from '../ops/export-image.js';
import { squash } from '../ops/squash.js';
import { Archive } from '../source/archive/index.js';
import { imageReaderFor, openCheckpointImage } from '../source/oci/image.js';
import { parseImageRef } from '../source/oci/ref.js';
import { RegistryClient } from '../source/oci/registry.js';
import { openTarget } from '../source/open.js';
import { commas } from './format.js';
import { cliStreams } from './io.js';

export interface ExportImageFlags {
  image?: string | undefined;
  imageArchive?: string | undefined;
  like?: string | undefined;
  annotation?: string[] | undefined;
  parent?: string | undefined;
}

function parseAnnotations(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`--annotation ${a}: expected KEY=VALUE`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

/** The model: a checkpoint image (its layer's archive and its annotations) or an archive file. */
async function openLike(like: string): Promise<{ archive: Archive; annotations?: Record<string, string> }> {
  const reader = await imageReaderFor(like);
  if (reader) {
    try {
      const img = await openCheckpointImage(reader);
      return { archive: img.archive, annotations: img.info.annotations };
    } finally {
      reader.close();
    }
  }
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(like);
  } catch {}
  if (!st?.isFile()) {
    throw new UsageError(
      `${like}: ${st ? 'a directory' : 'no such file'}; an image needs the metadata members of a checkpoint archive or image (config.dump, spec.dump): give --like ARCHIVE|IMAGE`,
    );
  }
  return { archive: await Archive.open(like) };
}

export async function exportToImage(target: string, f: ExportImageFlags): Promise<void> {
  if (f.image !== undefined && f.imageArchive !== undefined)
    throw new UsageError('--image and --image-archive: give one');
  const image = f.image === undefined ? undefined : parseImageRef(f.image.replace(/^oci:\/\//, ''), true);
  let archivePath: string | undefined;
  let tag: string | undefined;
  if (f.imageArchive !== undefined) {
    const m = /^(.*?\.tar)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$/.exec(f.imageArchive);
    if (!m) throw new UsageError(`--image-archive ${f.imageArchive}: expected FILE.tar or FILE.tar:TAG`);
    archivePath = m[1]!;
    tag = m[2];
    if (existsSync(archivePath))
      throw new UsageError(`${archivePath}: already exists; export writes a new file`);
    if (!existsSync(dirname(archivePath) || '.'))
      throw new UsageError(`${archivePath}: no such directory: ${dirname(archivePath)}`);
  }
  const annotations = parseAnnotations(f.annotation);
  if (image) {
    // an unreachable registry is said before the squash, not after it
    await new RegistryClient(image).ping().catch((e: unknown) => {
      if (e instanceof RegistryError && e.code === 'PAGESTACK_REGISTRY_UNAVAILABLE') throw e;
    });
  }
  const like = await openLike(f.like ?? target);
  const tmp = await mkdtemp(join(archivePath ? dirname(archivePath) || '.' : tmpdir(), '.pagestack-export-'));
  try {
    const images = join(tmp, 'images');
    const stack = await openTarget(target, { parent: f.parent });
    let r: Awaited<ReturnType<typeof squash>>;
    try {
      r = await squash(stack, { out: images });
    } finally {
      await stack.close();
    }
    const res = await exportImage({
      images,
      like: like.archive,
      likeAnnotations: like.annotations,
      annotations,
      image,
      archive: archivePath,
      tag,
      tmpDir: tmp,
    });
    cliStreams().stdout(
      `${res.destination}: checkpoint image of ${target} (${r.merged} of ${r.layers} layers merged, ${commas(r.presentPages)} pages present); ` +
        `layer ${res.layerDigest.slice(0, 19)} ${formatBytes(res.layerBytes)}${image ? `, ${formatBytes(res.uploadedBytes)} uploaded` : ''}\n`,
    );
  } finally {
    like.archive.release();
    await rm(tmp, { recursive: true, force: true });
  }
}
