/** `pagestack gc s3://BUCKET/PREFIX`: delete the blobs no stored layer needs. */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { GC_GRACE_MS, gc } from '../ops/gc.js';
import { isS3Url } from '../source/s3/object-store.js';
import { openStoreTarget } from '../source/store/open.js';
import { cliStreams } from './io.js';
import { parseNumber } from './options.js';

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description(
      'delete every stored object no layer of any stack needs and older than the grace period; nothing while a push is in flight',
    )
    .argument('<root>', 's3://BUCKET/PREFIX')
    .option('--grace <seconds>', `keep objects younger than this (default ${GC_GRACE_MS / 1000})`)
    .option('-n, --dry-run', 'say what would be deleted')
    .option('--endpoint <url>', 'S3 endpoint (else AWS_ENDPOINT_URL, else AWS)')
    .action(async (root, opts) => {
      if (!isS3Url(root)) throw new UsageError(`gc: ${root}: expected s3://BUCKET/PREFIX`);
      const graceMs = opts.grace === undefined ? GC_GRACE_MS : parseNumber(opts.grace, '--grace') * 1000;
      const t = await openStoreTarget(root, { endpoint: opts.endpoint }, true);
      try {
        const r = await gc(t.ctx, { graceMs, dryRun: opts.dryRun === true });
        cliStreams().stdout(
          r.busy
            ? `${t.url.location}: a push is in flight; nothing deleted (run gc again after it)\n`
            : `${t.url.location}: ${r.layers} layers, ${r.blobsKept} objects kept, ${r.blobsDeleted} ${opts.dryRun ? 'would be ' : ''}deleted (${formatBytes(r.bytesDeleted)})\n`,
        );
      } finally {
        await t.close();
      }
    });
}
