/** `pagestack push SOURCE s3://BUCKET/PREFIX/NAME`: a stack, archive or dump into a stored stack. */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { push } from '../ops/push.js';
import { isOciRef } from '../source/oci/ref.js';
import { openSource } from '../source/open.js';
import { isS3Url } from '../source/s3/object-store.js';
import { openStoreTarget } from '../source/store/open.js';
import { cliStreams } from './io.js';
import { parentOption } from './options.js';

export function registerPush(program: Command): void {
  program
    .command('push')
    .description(
      'store SOURCE as the next layer(s) of stack NAME: a stack directory (its top; layers below the store lacks go too), an archive, or a plain dump (stored as an increment on the top)',
    )
    .argument('<source>', 'image directory (top of a stack), checkpoint archive, or a plain dump')
    .argument('<target>', 's3://BUCKET/PREFIX/NAME')
    .addOption(parentOption('--parent', 'SOURCE'))
    .option('--endpoint <url>', 'S3 endpoint (else AWS_ENDPOINT_URL, else AWS)')
    .action(async (source, target, opts) => {
      if (!isS3Url(target) && !isOciRef(target))
        throw new UsageError(
          `push: ${target}: expected s3://BUCKET/PREFIX/NAME or oci://REGISTRY/REPOSITORY:NAME`,
        );
      // oci://: a registry repository holds the stacks (src/source/oci/store.ts)
      const t = isOciRef(target)
        ? await (await import('../source/oci/store.js')).openRegistryStoreTarget(target)
        : await openStoreTarget(target, { endpoint: opts.endpoint, create: true });
      try {
        if (t.at !== undefined)
          throw new UsageError(`push: ${target}: a push adds layers; give NAME without @N`);
        if (t.name === '') throw new UsageError(`push: ${target}: expected s3://BUCKET/PREFIX/NAME`);
        const src = await openSource(source, { parent: opts.parent });
        try {
          const r = await push({ store: t.blobs, stackUrl: t.url.location, name: t.name, source: src });
          const added = r.layers.filter((l) => l.status === 'new');
          const layers =
            added.length === 0
              ? `nothing new: ${r.layers.length === 1 ? `layer ${r.layers[0]!.seq}` : `layers ${r.layers[0]!.seq}-${r.layers[r.layers.length - 1]!.seq}`} stored already`
              : `${added.length === 1 ? `layer ${added[0]!.seq}` : `layers ${added[0]!.seq}-${added[added.length - 1]!.seq}`} added${r.mode === 'increment' ? ` (an increment: ${r.pagesShared} pages equal to layer ${added[0]!.seq - 1})` : ''}`;
          const saving = r.pagesBytes > 0 ? Math.max(0, 1 - r.uploadedBytes / r.pagesBytes) : 0;
          cliStreams().stdout(
            `${t.url.location}: ${layers}, ${r.total} in all; pages ${formatBytes(r.pagesBytes)}, uploaded ${formatBytes(r.uploadedBytes)} (${r.blobsUploaded} objects; ${r.blobsFound} stored already), saving ${(saving * 100).toFixed(1)}%\n`,
          );
        } finally {
          await src.close?.();
        }
      } finally {
        await t.close();
      }
    });
}
