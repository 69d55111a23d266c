/**
 * `pagestack add-images LAYER DUMP_DIR`: puts the images a `criu dump --page-server` wrote into
 * its own -D (everything but memory) into the layer `pagestack page-server` received, verifies the
 * result (as `pagestack verify`), and only then replaces the layer (src/ops/add-images.ts).
 */
import type { Command } from '@commander-js/extra-typings';
import { addImages, pickLayer } from '../ops/add-images.js';
import { verifyStack } from '../ops/verify.js';
import { DirLayerSource } from '../source/dir.js';
import { cliStreams, lockForWriting } from './io.js';
import { waitOption } from './options.js';

export function registerAddImages(program: Command): void {
  program
    .command('add-images')
    .description(
      "copy a page-server dump's other images (core, mm, pstree, ...) from its -D into the received layer, verified, crash-safe",
    )
    .argument(
      '<layer>',
      'the layer page-server wrote (STACK/N), or the stack (STACK): the layer that dump made is picked',
    )
    .argument('<dump-dir>', 'the -D directory of the `criu dump --page-server` that sent it')
    .addOption(waitOption())
    .action(async (target, dumpDir, opts) => {
      const picked = await pickLayer(target, dumpDir);
      const layer = picked.layer;
      if (picked.why) cliStreams().stdout(`${layer}: ${picked.why}\n`);
      // one writer of the layer: two add-images at once would each swap in their own copy
      const lock = await lockForWriting(layer, 'add-images', opts.wait);
      let r: Awaited<ReturnType<typeof addImages>>;
      try {
        r = await addImages({
          layer,
          from: dumpDir,
          check: async (dir) => {
            const report = await verifyStack(await DirLayerSource.open(dir));
            return report.problems.filter((p) => p.severity === 'error').map((p) => p.message);
          },
        });
      } finally {
        await lock.release();
      }
      cliStreams().stdout(
        `${r.layer}: ${r.copied.length} images added from ${dumpDir}, verified` +
          `${r.same.length ? `; ${r.same.length} there already` : ''}` +
          `${r.skipped.length ? `; not images, left out: ${r.skipped.join(', ')}` : ''}\n`,
      );
    });
}
