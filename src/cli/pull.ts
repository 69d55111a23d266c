/** `pagestack pull s3://BUCKET/PREFIX/NAME[@N] DIR [--flat]`: a stored stack into a directory CRIU restores. */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { pull } from '../ops/pull.js';
import { isOciRef } from '../source/oci/ref.js';
import { isS3Url } from '../source/s3/object-store.js';
import { openStoreTarget } from '../source/store/open.js';
import { cliStreams } from './io.js';

export function registerPull(program: Command): void {
  program
    .command('pull')
    .description(
      'write a stored stack (to layer N, default the top) as DIR/1 ... DIR/N with parent links, or with --flat as one self-contained image directory DIR',
    )
    .argument('<target>', 's3://BUCKET/PREFIX/NAME[@N] (N: 1 = the bottom layer)')
    .argument('<dir>', 'output directory (must not exist)')
    .option('--flat', 'one self-contained layer (every page present) instead of the layers')
    .option('--endpoint <url>', 'S3 endpoint (else AWS_ENDPOINT_URL, else AWS)')
    .action(async (target, dir, opts) => {
      if (!isS3Url(target) && !isOciRef(target))
        throw new UsageError(
          `pull: ${target}: expected s3://BUCKET/PREFIX/NAME[@N] or oci://REGISTRY/REPOSITORY:NAME[@N]`,
        );
      // oci://: a registry repository holds the stacks (src/source/oci/store.ts)
      const t = isOciRef(target)
        ? await (await import('../source/oci/store.js')).openRegistryStoreTarget(target)
        : await openStoreTarget(target, { endpoint: opts.endpoint });
      try {
        const r = await pull({ ctx: t.ctx, name: t.name, at: t.at, dest: dir, flat: opts.flat === true });
        cliStreams().stdout(
          `${r.top}: ${r.layers} ${r.layers === 1 ? 'layer' : 'layers'}, pages ${formatBytes(r.pagesBytes)}, fetched ${formatBytes(r.fetchedBytes)}; restore with criu restore -D ${r.top}\n`,
        );
      } finally {
        await t.close();
      }
    });
}
