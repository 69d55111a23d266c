/** `pagestack rm s3://BUCKET/PREFIX/NAME[@N]`: a stored stack, or its layers N and above. */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { removeStack } from '../ops/rm.js';
import { isS3Url } from '../source/s3/object-store.js';
import { openStoreTarget } from '../source/store/open.js';
import { cliStreams } from './io.js';

export function registerRm(program: Command): void {
  program
    .command('rm')
    .description('remove a stored stack (or its layers N and above); the data goes with the next gc')
    .argument('<target>', 's3://BUCKET/PREFIX/NAME[@N]')
    .option('--endpoint <url>', 'S3 endpoint (else AWS_ENDPOINT_URL, else AWS)')
    .action(async (target, opts) => {
      if (!isS3Url(target)) throw new UsageError(`rm: ${target}: expected s3://BUCKET/PREFIX/NAME[@N]`);
      const t = await openStoreTarget(target, { endpoint: opts.endpoint });
      try {
        const n = await removeStack(t.blobs, t.name, t.at);
        cliStreams().stdout(
          `${t.url.location}: ${n} ${n === 1 ? 'layer' : 'layers'} removed (gc deletes their data)\n`,
        );
      } finally {
        await t.close();
      }
    });
}
