/** `pagestack ls s3://BUCKET/PREFIX[/NAME]`: stored stacks, or one stack's layers. */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { listLayers, listStacks } from '../ops/ls.js';
import { isOciRef } from '../source/oci/ref.js';
import { isS3Url } from '../source/s3/object-store.js';
import { openStoreTarget } from '../source/store/open.js';
import { checkStackName } from '../store/layout.js';
import { readChain } from '../store/refs.js';
import { commas, table, toJson } from './format.js';
import { cliStreams } from './io.js';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description(
      'list the stacks under a store prefix, or the layers of one stack (pushed, pages, unique bytes)',
    )
    .argument('<target>', 's3://BUCKET/PREFIX (its stacks) or s3://BUCKET/PREFIX/NAME (its layers)')
    .option('--json', 'print JSON')
    .option('--endpoint <url>', 'S3 endpoint (else AWS_ENDPOINT_URL, else AWS)')
    .action(async (target, opts) => {
      if (!isS3Url(target) && !isOciRef(target))
        throw new UsageError(
          `ls: ${target}: expected s3://BUCKET/PREFIX[/NAME] or oci://REGISTRY/REPOSITORY[:NAME]`,
        );
      const out = cliStreams().stdout;
      if (isOciRef(target)) {
        // oci://: the repository's stacks, or stack NAME's layers (src/source/oci/store.ts)
        const t = await (await import('../source/oci/store.js')).openRegistryStoreTarget(target);
        try {
          if (t.name !== '') {
            const layers = await listLayers(t.ctx, t.name);
            if (opts.json) out(`${toJson({ stack: t.url.location, layers })}\n`);
            else
              out(
                `${t.url.location}: ${layers.length} ${layers.length === 1 ? 'layer' : 'layers'}\n` +
                  layers
                    .map(
                      (l) =>
                        `  ${l.seq}  ${l.pushed.toISOString()}  ${commas(l.memoryPages)} pages  ${formatBytes(l.uniqueBytes)} unique  ${l.manifest.slice(0, 12)}\n`,
                    )
                    .join(''),
              );
            return;
          }
          const stacks = await listStacks(t.blobs);
          if (opts.json) out(`${toJson({ root: t.url.location, stacks })}\n`);
          else
            out(
              `${t.url.location}: ${stacks.length} ${stacks.length === 1 ? 'stack' : 'stacks'}\n` +
                stacks
                  .map(
                    (s) =>
                      `  ${s.name}  ${s.layers} ${s.layers === 1 ? 'layer' : 'layers'}  ${s.pushed.toISOString()}\n`,
                  )
                  .join(''),
            );
        } finally {
          await t.close();
        }
        return;
      }
      // NAME when the last segment is a stack there, else the stacks under the whole path
      let t = await openStoreTarget(target, { endpoint: opts.endpoint }, true);
      try {
        if (t.url.name !== '' && t.url.layer === undefined && validName(t.url.name)) {
          const named = await openStoreTarget(target, { endpoint: opts.endpoint });
          if ((await readChain(named.blobs, named.name)).length > 0) {
            await t.close();
            t = named;
            const layers = await listLayers(t.ctx, t.name);
            if (opts.json) {
              out(`${toJson({ stack: t.url.location, layers })}\n`);
              return;
            }
            out(`${t.url.location}: ${layers.length} ${layers.length === 1 ? 'layer' : 'layers'}\n`);
            out(
              table(
                [
                  ['layer', 'pushed', 'own pages', 'memory pages', 'pages', 'unique', 'manifest'],
                  ...layers.map((l) => [
                    String(l.seq),
                    l.pushed.toISOString(),
                    commas(l.ownPages),
                    commas(l.memoryPages),
                    formatBytes(l.pagesBytes),
                    formatBytes(l.uniqueBytes),
                    l.manifest.slice(0, 12),
                  ]),
                ],
                ['r', 'l', 'r', 'r', 'r', 'r', 'l'],
              ) + '\n',
            );
            return;
          }
          await named.close();
        }
        const stacks = await listStacks(t.blobs);
        if (opts.json) {
          out(`${toJson({ root: t.url.location, stacks })}\n`);
          return;
        }
        out(`${t.url.location}: ${stacks.length} ${stacks.length === 1 ? 'stack' : 'stacks'}\n`);
        if (stacks.length > 0) {
          out(
            table(
              [
                ['stack', 'layers', 'last pushed'],
                ...stacks.map((s) => [s.name, String(s.layers), s.pushed.toISOString()]),
              ],
              ['l', 'r', 'l'],
            ) + '\n',
          );
        }
      } finally {
        await t.close();
      }
    });
}

function validName(name: string): boolean {
  try {
    checkStackName(name, '');
    return true;
  } catch {
    return false;
  }
}
