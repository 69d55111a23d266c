/**
 * `pagestack lazy-images TOP -o OUT`: the restore side's directory for a lazy restore from TOP's
 * stack: TOP's images, pagemaps flattened, lazy-able pages as PE_LAZY without data
 * (src/ops/lazy-images.ts). Then: `pagestack page-server STACK --lazy --port P`,
 * `criu lazy-pages --page-server --address 127.0.0.1 --port P -D OUT`, `criu restore -D OUT --lazy-pages`.
 */
import type { Command } from '@commander-js/extra-typings';
import { lazyImages } from '../ops/lazy-images.js';
import { commas } from './format.js';
import { cliStreams } from './io.js';

export function registerLazyImages(program: Command): void {
  program
    .command('lazy-images')
    .description(
      "write the restore side's directory for a lazy restore served from TOP's stack (PE_LAZY entries)",
    )
    .argument('<top>', 'top layer of the stack')
    .requiredOption('-o, --output <out>', 'directory to write (must not exist)')
    .action(async (top, opts) => {
      const r = await lazyImages({ top, out: opts.output });
      cliStreams().stdout(
        `${r.out}: ${r.pagemaps} pagemaps, ${r.entries} entries: ${commas(r.lazyPages)} lazy pages (served by page-server --lazy), ${commas(r.presentPages)} present\n`,
      );
    });
}
