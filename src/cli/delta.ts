/** `pagestack delta PARENT CHILD (-o OUT | --in-place)`: CHILD as an incremental layer on PARENT. */
import type { Command } from '@commander-js/extra-typings';
import { delta } from '../ops/delta.js';
import { UsageError } from './errors.js';
import { commas, formatSize } from './format.js';
import { cliStreams } from './io.js';

export function registerDelta(program: Command): void {
  program
    .command('delta')
    .description(
      "rewrite CHILD (a dump) as an incremental layer on PARENT's stack: pages equal to PARENT's become PE_PARENT",
    )
    .argument('<parent>', 'top layer of the stack to build on')
    .argument('<child>', 'image directory to rewrite (normally a full dump taken after PARENT)')
    .option('-o, --output <out>', 'write the new layer to this directory (must not exist)')
    .option('--in-place', 'replace CHILD itself (built beside it, then swapped in by rename)')
    .action(async (parent, child, opts) => {
      if ((opts.output === undefined) === (opts.inPlace !== true)) {
        throw new UsageError('delta: give exactly one of -o OUT or --in-place');
      }
      const r = await delta(
        opts.inPlace ? { parent, child, inPlace: true } : { parent, child, out: opts.output! },
      );
      cliStreams().stdout(
        `${r.out}: ${commas(r.pagesKept)} pages kept, ${commas(r.pagesShared)} shared with the parent` +
          `${r.pagesLazy > 0 ? `, ${commas(r.pagesLazy)} lazy` : ''}; ${formatSize(r.bytesSaved)} saved ` +
          `(pages ${formatSize(r.bytesBefore)} -> ${formatSize(r.bytesAfter)}); parent -> ${r.parentLink}\n`,
      );
    });
}
