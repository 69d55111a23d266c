/** `pagestack delta PARENT CHILD (-o OUT | --in-place)`: CHILD as an incremental layer on PARENT. */
import type { Command } from '@commander-js/extra-typings';
import { cleanStale } from '../engine/output.js';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { type DeltaResult, delta } from '../ops/delta.js';
import { openTarget } from '../source/open.js';
import { commas } from './format.js';
import { cliStreams, lockForWriting } from './io.js';
import { parentOption, waitOption } from './options.js';

export function registerDelta(program: Command): void {
  program
    .command('delta')
    .description(
      "rewrite CHILD (a dump) as an incremental layer on PARENT's stack: pages equal to PARENT's become PE_PARENT",
    )
    .argument('<parent>', 'top layer of the stack to build on')
    .argument('<child>', 'image directory to rewrite (normally a full dump taken after PARENT)')
    .addOption(parentOption('--parent', 'PARENT'))
    .addOption(parentOption('--child-parent', 'CHILD'))
    .option('-o, --output <out>', 'write the new layer to this directory (must not exist)')
    .option('--in-place', 'replace CHILD itself (built beside it, then swapped in by rename)')
    .addOption(waitOption())
    .option('--force', 'go on when CHILD has no process in common with PARENT')
    .action(async (parent, child, opts) => {
      if ((opts.output === undefined) === (opts.inPlace !== true)) {
        throw new UsageError('delta: give exactly one of -o OUT or --in-place');
      }
      // the one writer of what it makes: CHILD (replaced) or OUT (created)
      const dest = opts.inPlace ? child : opts.output!;
      const lock = await lockForWriting(dest, opts.inPlace ? 'delta --in-place' : 'delta', opts.wait);
      try {
        // A replace killed between its two renames leaves CHILD aside: put it back before reading it.
        await cleanStale(dest);
        await run(parent, child, opts);
      } finally {
        await lock.release();
      }
    });
}

async function run(
  parent: string,
  child: string,
  opts: {
    parent?: string | undefined;
    childParent?: string | undefined;
    output?: string | undefined;
    inPlace?: true | undefined;
    force?: true | undefined;
  },
): Promise<void> {
  const parentStack = await openTarget(parent, { parent: opts.parent });
  try {
    const childStack = await openTarget(child, { parent: opts.childParent });
    try {
      const r = await delta(
        parentStack,
        childStack,
        opts.inPlace
          ? { inPlace: true, force: opts.force === true }
          : { out: opts.output!, force: opts.force === true },
      );
      cliStreams().stdout(
        `${r.out}: ${commas(r.pagesKept)} pages kept, ${commas(r.pagesShared)} shared with the parent` +
          `${r.pagesLazy > 0 ? `, ${commas(r.pagesLazy)} lazy` : ''}; ${savingText(r)}; parent -> ${r.parentLink}\n`,
      );
    } finally {
      await childStack.close();
    }
  } finally {
    await parentStack.close();
  }
}

/**
 * What OUT stores against a full dump of CHILD's memory (every page present), and against CHILD's
 * own pages files: CHILD may itself be an increment over a closer parent, and then OUT stores
 * more than it did, which is no saving.
 */
export function savingText(r: DeltaResult): string {
  const full = (r.pagesKept + r.pagesShared) * PAGE_SIZE;
  const vsFull = `a full dump would store ${formatBytes(full)}`;
  if (r.bytesAfter > r.bytesBefore) {
    return `pages ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)}: more than CHILD's own, which was an increment over a closer parent (${vsFull})`;
  }
  const saved = Math.max(0, full - r.bytesAfter);
  return `pages ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)}, ${formatBytes(saved)} less than a full dump (${formatBytes(full)})`;
}
