/** `pagestack squash TOP -o OUT [--keep-below LAYER]`: a stack (or its upper part) as one layer. */
import type { Command } from '@commander-js/extra-typings';
import { formatBytes } from '../format.js';
import { squash } from '../ops/squash.js';
import { openTarget } from '../source/open.js';
import { commas } from './format.js';
import { cliStreams } from './io.js';

export function registerSquash(program: Command): void {
  program
    .command('squash')
    .description("write one self-contained image directory holding the memory of TOP's stack")
    .argument('<top>', 'top layer of the stack')
    .requiredOption('-o, --output <out>', 'write the result to this directory (must not exist)')
    .option(
      '--keep-below <layer>',
      'merge only the layers above LAYER (a directory of the stack, or an index: 0 = TOP, 1 = its parent, ...) and keep LAYER as the parent',
    )
    .action(async (top, opts) => {
      const stack = await openTarget(top);
      let r: Awaited<ReturnType<typeof squash>>;
      try {
        r = await squash(
          stack,
          opts.keepBelow === undefined
            ? { out: opts.output }
            : { out: opts.output, keepBelow: opts.keepBelow.replace(/^-(?=\d+$)/, '') },
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
    });
}
