/** `pagestack dedup TOP [--dry-run]`: release pages of ancestor layers that newer layers rewrote. */
import type { Command } from '@commander-js/extra-typings';
import type { StackLock } from '../engine/lock.js';
import { StackError } from '../errors.js';
import { formatBytes } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { type DedupFileResult, dedupStack } from '../ops/dedup.js';
import { openTarget } from '../source/open.js';
import type { Stack } from '../stack/stack.js';
import { commas, formatPages, layerLegend, table } from './format.js';
import { cliStreams, lockForWriting } from './io.js';
import { waitOption } from './options.js';

/** An exact byte count, with the size for people beside it: "8,192 bytes (8.0 KiB)". */
function bytesText(n: number): string {
  return n < 1024 ? `${commas(n)} bytes` : `${commas(n)} bytes (${formatBytes(n)})`;
}

function fileLine(r: DedupFileResult, dryRun: boolean): string {
  const where = `${r.dir}/${r.pagesFile}`;
  const pages = formatPages(r.releasedBytes / PAGE_SIZE);
  if (r.alreadyDone) return `${where}: already deduplicated (${pages} released)`;
  if (dryRun) return `${where}: would release ${pages}`;
  let line = `${where}: released ${pages}`;
  if (r.hardLinked) line += ' (the file had other hard links: they keep the old data)';
  return line;
}

export function registerDedup(program: Command): void {
  program
    .command('dedup')
    .description(
      'release the pages of ancestor layers that newer layers rewrote (as `criu dedup`); sizes and pagemaps stay, released pages read as zeros',
    )
    .argument('<top>', 'top image directory of the stack')
    .option('-n, --dry-run', 'show what would be released, change nothing')
    .option('--force', 'go on even when another directory is also a child of an ancestor (a branch)')
    .addOption(waitOption())
    .action(async (top, opts) => {
      const dryRun = opts.dryRun === true;
      // a dry run only reads; a real one locks every layer of the stack (it rewrites the
      // ancestors' pages files, and what it releases is decided by the top's pagemaps)
      const { stack, lock } = dryRun
        ? { stack: await openTarget(top), lock: null }
        : await openLocked(top, opts.wait);
      const count = stack.layers.length;
      let result: Awaited<ReturnType<typeof dedupStack>>;
      try {
        result = await dedupStack(stack, {
          dryRun,
          force: opts.force === true,
          onFile: (r) => cliStreams().stdout(`${fileLine(r, dryRun)}\n`),
        });
      } finally {
        await stack.close();
        await lock?.release();
      }
      const out: string[] = [];
      for (const t of result.removedTemps) out.push(`removed ${t} (left by an interrupted run)`);
      for (const b of result.branches) {
        out.push(
          `warning: ${b.child} is also a child of ${b.ancestor}: deduplicating for ${result.top} may release pages it needs${dryRun ? ' (a real run refuses without --force)' : ''}`,
        );
      }
      if (result.layers.length === 0) {
        out.push(`${result.top}: no parent layer: nothing to deduplicate`);
        cliStreams().stdout(`${out.join('\n')}\n`);
        return;
      }
      const pending = (fs: readonly DedupFileResult[]): number =>
        fs.reduce((a, f) => a + (f.alreadyDone ? 0 : f.releasedBytes), 0);
      const rows: string[][] = [];
      if (dryRun) {
        rows.push(['layer', 'directory', 'would release']);
        for (const l of result.layers)
          rows.push([`${count - l.index}`, l.dir, formatPages(pending(l.files) / PAGE_SIZE)]);
        rows.push([
          '',
          'total',
          formatPages(result.layers.reduce((a, l) => a + pending(l.files), 0) / PAGE_SIZE),
        ]);
      } else {
        rows.push(['layer', 'directory', 'on disk before', 'after', 'freed on disk']);
        for (const l of result.layers) {
          rows.push([
            // the number every command prints: 1 = the first dump (bottom)
            `${count - l.index}`,
            l.dir,
            commas(l.allocatedBefore),
            commas(l.allocatedAfter),
            bytesText(l.allocatedBefore - l.allocatedAfter),
          ]);
        }
        rows.push(['', 'total', '', '', bytesText(result.freedBytes)]);
      }
      out.push(`layers (${layerLegend(count)}):`);
      out.push(table(rows, ['r', 'l', 'r', 'r', 'r']));
      if (!dryRun) {
        // two counts that measure different things: say which is which when they differ
        const released = result.layers.reduce((a, l) => a + pending(l.files), 0);
        out.push(
          released === result.freedBytes
            ? `released ${formatPages(released / PAGE_SIZE)}, the same freed on disk`
            : `released ${formatPages(released / PAGE_SIZE)}; freed on disk ${bytesText(result.freedBytes)}: the disk counts allocated blocks, less than the pages released where they were already holes (zeros) or the file has other hard links, and rounded to the filesystem's blocks`,
        );
      }
      if (dryRun) out.push('dry run: nothing changed');
      else if (result.releasedBytes > 0) {
        const ancestors = result.layers.map((l) => l.dir).join(', ');
        out.push(
          `note: the deduplicated ancestors (${ancestors}) are valid only under their children: read or restore them through ${result.top}; on their own, or under a branch dedup could not see (outside these directories), released pages read as zeros, and verify of such a branch fails`,
        );
      }
      cliStreams().stdout(`${out.join('\n')}\n`);
    });
}

/** The layer directories of a stack (their real paths). */
function layerIds(stack: Stack): string[] {
  return stack.layers.map((l) => l.source.id);
}

/**
 * Opens TOP's stack holding the lock of each of its layers. The layers are known only once the
 * stack is open, and another writer may replace one meanwhile: open, lock, open again, and go on
 * when the second look finds the layers locked.
 */
async function openLocked(
  top: string,
  wait: boolean | undefined,
): Promise<{ stack: Stack; lock: StackLock }> {
  for (let attempt = 0; ; attempt++) {
    const first = await openTarget(top);
    const ids = layerIds(first);
    await first.close();
    const lock = await lockForWriting(ids, 'dedup', wait);
    try {
      const stack = await openTarget(top);
      const now = layerIds(stack);
      if (now.length === ids.length && now.every((id, i) => id === ids[i])) return { stack, lock };
      await stack.close();
    } catch (e) {
      await lock.release();
      throw e;
    }
    await lock.release();
    if (attempt === 2) throw new StackError(`${top}: the stack's layers changed while dedup was starting`);
  }
}
