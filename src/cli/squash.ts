/**
 * `pagestack squash TOP -o OUT [--keep-below LAYER]`: a stack (or its upper part) as one layer.
 * `pagestack squash TOP -o OUT.tar[.gz|.zst] --like ARCHIVE`: a self-contained checkpoint archive:
 * ARCHIVE's metadata members, its image directory replaced by TOP's squashed images (every page
 * present). The images are squashed into a temporary directory beside OUT (the atomic writer's
 * `.OUT.pagestack-tmp-<pid>-*`), removed afterwards, when interrupted, or by the next writer in
 * that directory after a kill. OUT is locked for the run (one writer, src/engine/lock.ts).
 */

import { existsSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { trackTemp, untrackTemp } from '../engine/fs.js';
import { cleanStale, tempPath } from '../engine/output.js';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { squash } from '../ops/squash.js';
import { Archive, compressionForName, writeArchiveLike } from '../source/archive/index.js';
import { openTarget } from '../source/open.js';
import { commas } from './format.js';
import { cliStreams, lockForWriting } from './io.js';
import { parentOption, waitOption } from './options.js';

export function registerSquash(program: Command): void {
  program
    .command('squash')
    .description("write one self-contained image directory holding the memory of TOP's stack")
    .argument('<top>', 'top layer of the stack (image directory or checkpoint archive)')
    .addOption(parentOption('--parent', 'TOP'))
    .requiredOption('-o, --output <out>', 'write the result to this directory (must not exist)')
    .option(
      '--keep-below <layer>',
      'merge only the layers above LAYER (a directory of the stack, or an index: 0 = TOP, 1 = its parent, ...) and keep LAYER as the parent',
    )
    .option('--like <archive>', 'write OUT as a checkpoint archive with the metadata members of ARCHIVE')
    .addOption(waitOption())
    .action(async (top, opts) => {
      const lock = await lockForWriting(
        opts.output,
        opts.like === undefined ? 'squash' : 'squash --like',
        opts.wait,
      );
      try {
        await run(top, opts);
      } finally {
        await lock.release();
      }
    });
}

async function run(
  top: string,
  opts: {
    output: string;
    parent?: string | undefined;
    keepBelow?: string | undefined;
    like?: string | undefined;
  },
): Promise<void> {
  const archiveName = ARCHIVE_NAME_RE.exec(basename(opts.output));
  if (opts.like === undefined && archiveName) {
    throw new UsageError(
      `${opts.output}: an archive name, but squash writes an image directory; to write a checkpoint archive give --like ARCHIVE (whose metadata members it takes)`,
    );
  }
  if (opts.like !== undefined) {
    if (!archiveName || !WRITABLE_RE.test(opts.output)) {
      throw new UsageError(
        `${opts.output}: squash --like writes .tar, .tar.gz (.tgz) or .tar.zst archives${archiveName ? `, not ${archiveName[0]}` : ''}`,
      );
    }
    checkLike(opts.like);
    if (opts.keepBelow !== undefined)
      throw new UsageError('--like writes a self-contained archive: no --keep-below');
    await squashLike(top, opts.output, opts.like, opts.parent);
    return;
  }
  if (opts.keepBelow !== undefined && /^-\d+$/.test(opts.keepBelow)) {
    throw new UsageError(
      `--keep-below ${opts.keepBelow}: expected a layer index >= 1 (0 = TOP, 1 = its parent, ...) or a layer directory`,
    );
  }
  const stack = await openTarget(top, { parent: opts.parent });
  let r: Awaited<ReturnType<typeof squash>>;
  try {
    r = await squash(
      stack,
      opts.keepBelow === undefined ? { out: opts.output } : { out: opts.output, keepBelow: opts.keepBelow },
    );
  } finally {
    await stack.close();
  }
  cliStreams().stdout(
    `${r.out}: ${r.merged} of ${r.layers} layers merged; ${commas(r.presentPages)} pages present ` +
      `(${commas(r.pulledUpPages)} from lower layers)` +
      `${r.parentPages > 0 ? `, ${commas(r.parentPages)} in the parent` : ''}` +
      `${r.lazyPages > 0 ? `, ${commas(r.lazyPages)} lazy` : ''}; ${formatBytes(r.bytesWritten)} of pages; ` +
      `${r.parent === null ? 'no parent' : `parent -> ${r.parent}`}\n`,
  );
}

/** Names that say "archive" (tar, possibly compressed; .tgz etc.). */
const ARCHIVE_NAME_RE = /\.(?:tar(?:\.[a-z0-9]+)?|tgz|tbz2?|txz|tzst)$/i;
/** The archives writeArchiveLike writes (compressionForName: none, gzip, zstd). */
const WRITABLE_RE = /\.(?:tar|tar\.gz|tgz|tar\.zst)$/i;

/** --like must name an archive file: say so in one line rather than an fs error. */
function checkLike(path: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(
      `--like ${path}: no such file; expected a checkpoint archive (.tar, .tar.gz, .tar.zst)`,
    );
  }
  if (!st.isFile()) {
    throw new UsageError(
      `--like ${path}: ${st.isDirectory() ? 'a directory' : 'not a regular file'}; expected a checkpoint archive file (.tar, .tar.gz, .tar.zst)`,
    );
  }
}

async function squashLike(
  top: string,
  out: string,
  likePath: string,
  parent: string | undefined,
): Promise<void> {
  if (existsSync(out)) throw new UsageError(`${out}: already exists; squash writes a new archive`);
  const like = await Archive.open(likePath);
  await cleanStale(out);
  const tmp = tempPath(out);
  trackTemp(tmp);
  try {
    await mkdir(tmp, { mode: 0o700 });
    const images = join(tmp, 'images');
    const stack = await openTarget(top, { parent });
    let r: Awaited<ReturnType<typeof squash>>;
    try {
      r = await squash(stack, { out: images });
    } finally {
      await stack.close();
    }
    const w = await writeArchiveLike(out, like, images, compressionForName(out));
    cliStreams().stdout(
      `${w.out}: ${r.merged} of ${r.layers} layers merged; ${commas(r.presentPages)} pages present; ` +
        `${w.members} members like ${likePath} (${compressionForName(out)}), ${formatBytes(w.bytes)}\n`,
    );
  } finally {
    like.release();
    await rm(tmp, { recursive: true, force: true });
    untrackTemp(tmp);
  }
}
